/* The program behind tests/data/strace/threads-fork.txt (cc -O0 -pthread; run in a
   folder holding no st/, under harness.trace.strace.strace_prefix's options).
   An engine-like process that writes the log on its main thread and fsyncs it on
   worker threads, publishes from a thread (a rename with relative paths, on a thread
   that made no call naming the cwd), forks a child that fsyncs the log (another
   process), and starts /bin/true with vfork. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int log_fd;

static void put(const char *line) { (void)!write(log_fd, line, strlen(line)); }

static void *sync_log(void *arg) { (void)arg; fsync(log_fd); return NULL; }

static void *sync_outputs(void *arg) {
    (void)arg;
    int fd = open("st/outputs", O_RDONLY | O_DIRECTORY);
    fsync(fd);
    close(fd);
    return NULL;
}

static void *publish(void *arg) {
    (void)arg;
    pthread_t nested;
    rename("st/a.tmp", "st/outputs/a");
    pthread_create(&nested, NULL, sync_outputs, NULL);
    pthread_join(nested, NULL);
    return NULL;
}

static void on_thread(void *(*fn)(void *)) {
    pthread_t t;
    pthread_create(&t, NULL, fn, NULL);
    pthread_join(t, NULL);
}

int main(void) {
    mkdir("st", 0777);
    mkdir("st/outputs", 0777);
    log_fd = open("st/events.jsonl", O_WRONLY | O_CREAT | O_APPEND, 0644);
    int dir = open("st", O_RDONLY | O_DIRECTORY);
    fsync(dir);
    put("{\"seq\":1,\"type\":\"WORKFLOW_STARTED\"}\n");
    on_thread(sync_log);
    put("{\"seq\":2,\"type\":\"STEP_SUCCEEDED\",\"step\":\"a\"}\n");
    int out = open("st/a.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    (void)!write(out, "out\n", 4);
    on_thread(sync_log);
    fsync(out);
    on_thread(publish);
    put("{\"seq\":3,\"type\":\"WORKFLOW_SUCCEEDED\"}\n");
    pid_t child = fork();
    if (child == 0) {
        fsync(log_fd);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    pid_t sh = vfork();
    if (sh == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    waitpid(sh, NULL, 0);
    return 0;
}
