/* PID 1's last step in an addfdlab guest: waits until the result ports have sent everything,
 * then writes the exit status to QEMU's isa-debug-exit port (0xf4): QEMU exits with 2N+1.
 * Plain C and static: it runs in a busybox initramfs; cloud kernels have no /dev/port. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/io.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const int status = atoi(argv[1]);
  /* write() returns once the tty layer holds the bytes, not once the UART sent them. */
  for (int i = 2; i < argc; ++i) {
    const int fd = open(argv[i], O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
      tcdrain(fd);
      close(fd);
    }
  }
  if (ioperm(0xf4, 4, 1) != 0) return 1;
  outb((unsigned char)(status & 0xff), 0xf4);
  return 1; /* QEMU is gone by now: reaching here means there is no isa-debug-exit device */
}
