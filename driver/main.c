/* placeholder so the build configures; replaced by the driver. */
int main(void) { return 0; }
