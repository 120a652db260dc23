// The tiny program of the fork+exec+wait and posix_spawn+wait floors.
int main() { return 0; }
