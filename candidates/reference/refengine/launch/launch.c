/* launch.c: the reference engine's launcher, one process per attempt (refengine/supervisor.py).

   Usage (by posix_spawn from the engine, as the attempt's process group leader):
       launch CPUS LOG_PATH COMMAND [ARG...]     with the go-ahead pipe's read end on fd 3

   0. Sets its CPU affinity to CPUS, a hexadecimal mask (most significant digit first) of
      the engine's own CPUs, or leaves it as it is when CPUS is "-". The engine spawns it
      bound to the core the engine waits on (posix_spawn's vfork waits for the exec, and
      the kernel could place the new process on a core busy with running steps), so that
      the command runs on the engine's CPUs as it would have without the binding.
   1. Waits for one byte "g" on fd 3. The engine sends it once the attempt's STEP_STARTED
      is durable. EOF with no byte means the engine died first, or gave up a launcher it
      made ahead: exit 125, run nothing and create nothing.
   2. Appends its stdout and stderr to LOG_PATH (created 0644); if it cannot, it says why
      on the engine's stderr and exits 2, running nothing.
   3. Closes fd 3 and execs COMMAND with ARGs and the environment it was given, keeping
      its pid, so the pid and pgid the log names are those of the command. COMMAND is
      found as execvp(3) finds it: as given when it holds a '/', else in each folder of
      PATH (default "/bin:/usr/bin"); a folder where it exists but cannot be run is
      remembered and the search goes on. When nothing could be exec'd, it says why in
      LOG_PATH and exits 127 (not found) or 126 (found, not runnable).

   Why a program of its own: a shell doing the same costs a second dynamically linked exec
   per attempt, about as much as the command's own, and a fork of the engine copies its
   page tables. This one has no C library and no dynamic loader: its exec costs a few
   pages. It uses the system calls sched_setaffinity, read, write, open, close, dup2, execve
   and exit, and nothing else. x86_64 Linux only (the engine falls back to /bin/sh elsewhere).

   Build: refengine/launch/build.sh (the binary launch-x86_64 is committed). */

typedef unsigned long size_t;

#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_dup2 33
#define SYS_execve 59
#define SYS_exit 60
#define SYS_sched_setaffinity 203

#define O_WRONLY 01
#define O_CREAT 0100
#define O_APPEND 02000
#define O_CLOEXEC 02000000

#define ENOENT 2
#define EIO 5
#define E2BIG 7
#define ENOEXEC 8
#define ENOMEM 12
#define EACCES 13
#define ENODEV 19
#define ENOTDIR 20
#define EISDIR 21
#define ETXTBSY 26
#define ENAMETOOLONG 36
#define ELOOP 40
#define ESTALE 116
#define ETIMEDOUT 110

#define PATH_MAX 4096

static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static __attribute__((noreturn)) void quit(int code) {
    for (;;) sys3(SYS_exit, code, 0, 0);
}

static size_t len(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static void say(int fd, const char *s) {
    size_t n = len(s);
    while (n) {
        long w = sys3(SYS_write, fd, (long)s, (long)n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static const char *why(long err) {
    switch (err) {
    case ENOENT: return "No such file or directory";
    case EACCES: return "Permission denied";
    case ENOEXEC: return "Exec format error";
    case ENOTDIR: return "Not a directory";
    case EISDIR: return "Is a directory";
    case ETXTBSY: return "Text file busy";
    case E2BIG: return "Argument list too long";
    case ENOMEM: return "Cannot allocate memory";
    case ENAMETOOLONG: return "File name too long";
    case ELOOP: return "Too many levels of symbolic links";
    case EIO: return "Input/output error";
    default: return "cannot exec";
    }
}

static __attribute__((noreturn)) void fail(int fd, const char *what, const char *name, long err, int code) {
    say(fd, "engine: ");
    say(fd, what);
    say(fd, " '");
    say(fd, name);
    say(fd, "': ");
    say(fd, why(err));
    say(fd, "\n");
    quit(code);
}

/* The value of NAME in envp, or 0. */
static const char *env(char **envp, const char *name) {
    size_t n = len(name);
    for (; *envp; envp++) {
        size_t i = 0;
        while (i < n && (*envp)[i] == name[i]) i++;
        if (i == n && (*envp)[n] == '=') return *envp + n + 1;
    }
    return 0;
}

/* Step 0: the affinity mask in hex (1024 CPUs at most), "-" for none; 0 if it is none. */
static int set_cpus(const char *hex) {
    static unsigned long mask[16];  /* zero, as .bss is */
    if (hex[0] == '-' && hex[1] == 0) return 0;
    size_t n = len(hex);
    if (n == 0 || n > 16 * 16) return -1;
    for (size_t i = 0; i < n; i++) {
        char c = hex[n - 1 - i];
        unsigned long v;
        if (c >= '0' && c <= '9') v = (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f') v = (unsigned long)(c - 'a' + 10);
        else return -1;
        mask[i / 16] |= v << (4 * (i % 16));
    }
    sys3(SYS_sched_setaffinity, 0, sizeof mask, (long)mask);  /* failing, it keeps one core */
    return 0;
}

static void run(int argc, char **argv, char **envp) {
    if (argc < 4 || set_cpus(argv[1]) != 0) {
        say(2, "usage: launch CPUS LOG_PATH COMMAND [ARG...] (go-ahead on fd 3)\n");
        quit(2);
    }
    argv++;  /* from here on, argv[1] is LOG_PATH */
    char go = 0;
    if (sys3(SYS_read, 3, (long)&go, 1) != 1 || go != 'g') quit(125);
    sys3(SYS_close, 3, 0, 0);
    long log = sys3(SYS_open, (long)argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) fail(2, "cannot open the step's log", argv[1], -log, 2);
    if (sys3(SYS_dup2, log, 1, 0) < 0 || sys3(SYS_dup2, log, 2, 0) < 0) quit(2);

    char *name = argv[2], **args = argv + 2;
    for (const char *c = name; *c; c++) {
        if (*c == '/') {
            long err = -sys3(SYS_execve, (long)name, (long)args, (long)envp);
            fail(2, "cannot run", name, err, err == ENOENT || err == ENOTDIR ? 127 : 126);
        }
    }
    const char *path = env(envp, "PATH");
    if (!path) path = "/bin:/usr/bin";
    size_t n = len(name);
    long err = ENOENT;
    int denied = 0;
    static char full[PATH_MAX];
    while (*name) {
        const char *end = path;
        while (*end && *end != ':') end++;
        size_t d = (size_t)(end - path);
        if (d + 1 + n < PATH_MAX) {
            size_t k = 0;
            if (d == 0) full[k++] = '.';  /* an empty folder is the current one */
            for (size_t i = 0; i < d; i++) full[k++] = path[i];
            full[k++] = '/';
            for (size_t i = 0; i <= n; i++) full[k++] = name[i];
            err = -sys3(SYS_execve, (long)full, (long)args, (long)envp);
            if (err == EACCES) {
                denied = 1;
            } else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV
                       && err != ETIMEDOUT && err != ENAMETOOLONG && err != ELOOP) {
                break;  /* it exists and cannot be run (as execvp gives up) */
            }
        }
        if (!*end) break;
        path = end + 1;
    }
    if (denied && (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV
                   || err == ETIMEDOUT || err == ENAMETOOLONG || err == ELOOP)) {
        err = EACCES;
    }
    fail(2, "cannot run", name, err, err == ENOENT || err == ENOTDIR ? 127 : 126);
}

/* The kernel starts a process with argc, argv and envp on the stack. */
__attribute__((used)) static void start(long *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    run(argc, argv, argv + argc + 1);
    quit(0);
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call start\n"
        "  hlt\n");
