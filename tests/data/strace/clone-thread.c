/* A thread made by clone(2) itself, with the flags Go's runtime passes (CLONE_VM,
   CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD): it fsyncs the
   file its maker wrote. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
static int fd;
static int sync_it(void *arg) { (void)arg; fsync(fd); return 0; }
int main(void) {
    fd = open("x.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    (void)!write(fd, "x\n", 2);
    char *stack = malloc(1 << 16);
    clone(sync_it, stack + (1 << 16), CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND
          | CLONE_SYSVSEM | CLONE_THREAD, NULL);
    sleep(1);
    return 0;
}
