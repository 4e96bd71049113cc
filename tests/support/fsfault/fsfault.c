/*
 * fsfault: an LD_PRELOAD shim that journals and fails file operations under one directory.
 *
 * Environment:
 *   FSFAULT_PREFIX   a directory; only files and directories at or below it are touched.
 *   FSFAULT_JOURNAL  append one binary record per operation on those files (see journal.py).
 *   FSFAULT_CONTROL  a file read before each write, fallocate, fsync, truncate, open for
 *                    writing (and unlink/rename/mkdir/rmdir, for "meta" faults):
 *                    empty = no fault, else "ERRNO [op ...] [grow] [path=SUBSTRING]";
 *                    ERRNO "STALL" blocks matching calls until the control file changes.
 *
 * Every captured operation runs under one process-wide mutex together with its journal
 * record, so the journal's order is the order in which the calls completed, and a record
 * is on the journal fd (write(2), no buffering) before the call returns to the caller:
 * a process SIGKILLed at any point has journaled every call whose result it could act on.
 * Files ending in "-shm" are not journaled (SQLite rebuilds its shared-memory index from
 * the WAL after a crash, and writes it through mmap anyway), but faults apply to them.
 */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FD_MAX 65536

/* Journal operation codes: keep in sync with journal.py. */
enum {
    OP_CREATE = 1,   /* path, ino: a new file was created (O_CREAT on a missing path) */
    OP_WRITE = 2,    /* path, ino, a = offset, data */
    OP_TRUNCATE = 3, /* path, ino, a = new length */
    OP_FSYNC = 4,    /* path, ino; flags & 1 = fdatasync */
    OP_DIRSYNC = 5,  /* path of the directory whose fd was fsynced */
    OP_UNLINK = 6,   /* path */
    OP_RENAME = 7,   /* path -> path2 */
    OP_MKDIR = 8,    /* path */
    OP_RMDIR = 9,    /* path */
    OP_SYNCALL = 10, /* sync() or syncfs(): everything is durable */
    OP_FAULT = 11,   /* path; a = errno, flags = the failed operation's bit */
    OP_FALLOCATE = 12, /* path, ino, a = offset, data = int64 length; flags = fallocate mode */
};

/* Operation kinds a fault can select. */
enum {
    F_WRITE = 1,
    F_FSYNC = 2,
    F_TRUNCATE = 4,
    F_OPEN = 8,
    F_META = 16,
};

enum { K_NONE = 0, K_FILE = 1, K_DIR = 2 };

struct entry {
    char *path;
    uint64_t ino;
    int oflags;
    int journaled; /* 0 for -shm files */
};

struct __attribute__((packed)) rec_header {
    uint32_t len; /* whole record, header included */
    uint8_t op;
    uint8_t flags;
    uint16_t reserved;
    int32_t pid;
    uint64_t ino;
    int64_t a;
    int64_t t_ns; /* CLOCK_REALTIME */
    uint32_t p1len, p2len, dlen;
};

static unsigned char fd_kind[FD_MAX];
static struct entry fd_tab[FD_MAX];

static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pid_t owner;
static int active;
static char prefix[PATH_MAX];
static size_t prefix_len;
static char prefix_real[PATH_MAX];
static size_t prefix_real_len;
static int jfd = -1;
static char control_path[PATH_MAX];

struct fault {
    int err;
    unsigned ops;
    int grow_only;
    char path_sub[256];
};
static struct fault cur_fault;
static struct stat control_st;
static int control_known;

/* ---- the real functions ------------------------------------------------------------- */

/* real_NAME(): the next definition of NAME (libc's), looked up on first use: our wrappers can
 * run before our constructor, from other libraries' constructors. */
#define DECL(ret, name, args)                                                 \
    typedef ret(*name##_fn) args;                                             \
    static name##_fn real_##name##_ptr;                                       \
    static name##_fn real_##name(void) {                                      \
        name##_fn f = __atomic_load_n(&real_##name##_ptr, __ATOMIC_ACQUIRE);  \
        if (f == NULL) {                                                      \
            f = (name##_fn)dlsym(RTLD_NEXT, #name);                           \
            __atomic_store_n(&real_##name##_ptr, f, __ATOMIC_RELEASE);        \
        }                                                                     \
        return f;                                                             \
    }
#define REAL(name) (real_##name())

DECL(int, open, (const char *, int, ...));
DECL(int, openat, (int, const char *, int, ...));
DECL(int, openat64, (int, const char *, int, ...));
DECL(int, close, (int));
DECL(int, dup, (int));
DECL(int, dup2, (int, int));
DECL(int, dup3, (int, int, int));
DECL(int, fcntl, (int, int, ...));
DECL(int, fcntl64, (int, int, ...));
DECL(ssize_t, write, (int, const void *, size_t));
DECL(ssize_t, pwrite, (int, const void *, size_t, off_t));
DECL(ssize_t, pwrite64, (int, const void *, size_t, off_t));
DECL(ssize_t, writev, (int, const struct iovec *, int));
DECL(ssize_t, pwritev, (int, const struct iovec *, int, off_t));
DECL(ssize_t, pwritev64, (int, const struct iovec *, int, off_t));
DECL(ssize_t, pwritev2, (int, const struct iovec *, int, off_t, int));
DECL(ssize_t, pwritev64v2, (int, const struct iovec *, int, off_t, int));
DECL(int, posix_fallocate, (int, off_t, off_t));
DECL(int, posix_fallocate64, (int, off_t, off_t));
DECL(int, fallocate, (int, int, off_t, off_t));
DECL(int, fallocate64, (int, int, off_t, off_t));
DECL(int, ftruncate, (int, off_t));
DECL(int, ftruncate64, (int, off_t));
DECL(int, truncate, (const char *, off_t));
DECL(int, truncate64, (const char *, off_t));
DECL(int, fsync, (int));
DECL(int, fdatasync, (int));
DECL(int, unlink, (const char *));
DECL(int, unlinkat, (int, const char *, int));
DECL(int, rename, (const char *, const char *));
DECL(int, renameat, (int, const char *, int, const char *));
DECL(int, renameat2, (int, const char *, int, const char *, unsigned));
DECL(int, mkdir, (const char *, mode_t));
DECL(int, mkdirat, (int, const char *, mode_t));
DECL(int, rmdir, (const char *));
DECL(void, sync, (void));
DECL(int, syncfs, (int));
DECL(int, statvfs, (const char *, struct statvfs *));
DECL(int, statvfs64, (const char *, struct statvfs64 *));

/* ---- helpers -------------------------------------------------------------------------- */

static void die(const char *what) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, "fsfault: %s: %s\n", what, strerror(errno));
    if (n > 0) {
        ssize_t ignored = REAL(write)(2, msg, (size_t)n);
        (void)ignored;
    }
    abort();
}

static void lock(void) { pthread_mutex_lock(&mu); }
static void unlock(void) { pthread_mutex_unlock(&mu); }

/* Captured only in the process that owns the table: not in a vfork child, which shares our
 * memory but has its own descriptors. */
static int mine(void) { return active && getpid() == owner; }

static int tracked(int fd) {
    return fd >= 0 && fd < FD_MAX && __atomic_load_n(&fd_kind[fd], __ATOMIC_ACQUIRE) != K_NONE;
}

/* Lexically normalise an absolute path: collapse "//", ".", "..". */
static void normalize(const char *in, char *out, size_t outsz) {
    size_t o = 0;
    const char *p = in;
    out[0] = '\0';
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != '/') p++;
        size_t n = (size_t)(p - s);
        if (n == 1 && s[0] == '.') continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/') o--;
            if (o > 0) o--;
            out[o] = '\0';
            continue;
        }
        if (o + 1 + n + 1 > outsz) break;
        out[o++] = '/';
        memcpy(out + o, s, n);
        o += n;
        out[o] = '\0';
    }
    if (o == 0) {
        out[0] = '/';
        out[1] = '\0';
    }
}

/* The absolute, normalised path of `path` relative to `dirfd`; 0 on success. */
static int resolve(int dirfd, const char *path, char *out) {
    char buf[PATH_MAX * 2];
    if (path == NULL || path[0] == '\0') return -1;
    if (path[0] == '/') {
        snprintf(buf, sizeof buf, "%s", path);
    } else if (dirfd == AT_FDCWD) {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) return -1;
        snprintf(buf, sizeof buf, "%s/%s", cwd, path);
    } else {
        char link[64], dir[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, dir, sizeof dir - 1);
        if (n < 0) return -1;
        dir[n] = '\0';
        snprintf(buf, sizeof buf, "%s/%s", dir, path);
    }
    normalize(buf, out, PATH_MAX);
    return 0;
}

static int starts(const char *p, const char *pre, size_t n) {
    if (n == 0) return 0;
    if (n == 1 && pre[0] == '/') return 1;
    return strncmp(p, pre, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static int under(const char *abs) {
    return starts(abs, prefix, prefix_len) || starts(abs, prefix_real, prefix_real_len);
}

static int is_shm(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && strcmp(path + n - 4, "-shm") == 0;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Append one record; `iov` (if any) supplies `dlen` bytes of data instead of `data`. */
static void record(int op, int flags, uint64_t ino, int64_t a, const char *p1, const char *p2,
                   const void *data, size_t dlen, const struct iovec *iov, int iovcnt) {
    if (jfd < 0) return;
    int saved = errno;
    size_t l1 = p1 ? strlen(p1) : 0, l2 = p2 ? strlen(p2) : 0;
    size_t total = sizeof(struct rec_header) + l1 + l2 + dlen;
    if (total > UINT32_MAX) {
        errno = EFBIG;
        die("record too large");
    }
    char *buf = malloc(total);
    if (buf == NULL) die("malloc");
    struct rec_header h = {
        .len = (uint32_t)total,
        .op = (uint8_t)op,
        .flags = (uint8_t)flags,
        .reserved = 0,
        .pid = (int32_t)getpid(),
        .ino = ino,
        .a = a,
        .t_ns = now_ns(),
        .p1len = (uint32_t)l1,
        .p2len = (uint32_t)l2,
        .dlen = (uint32_t)dlen,
    };
    char *w = buf;
    memcpy(w, &h, sizeof h);
    w += sizeof h;
    if (l1) memcpy(w, p1, l1);
    w += l1;
    if (l2) memcpy(w, p2, l2);
    w += l2;
    if (iov != NULL) {
        size_t left = dlen;
        for (int i = 0; i < iovcnt && left > 0; i++) {
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            memcpy(w, iov[i].iov_base, n);
            w += n;
            left -= n;
        }
    } else if (dlen) {
        memcpy(w, data, dlen);
    }
    const char *p = buf;
    size_t left = total;
    while (left > 0) {
        ssize_t n = REAL(write)(jfd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("journal write failed");
        }
        p += n;
        left -= (size_t)n;
    }
    free(buf);
    errno = saved;
}

/* ---- faults ----------------------------------------------------------------------------- */

/* Not an errno: the call blocks until the control file no longer asks for the stall. */
#define STALL (-2)

static int parse_errno(const char *name) {
    if (strcasecmp(name, "STALL") == 0) return STALL;
    if (strcasecmp(name, "ENOSPC") == 0) return ENOSPC;
    if (strcasecmp(name, "EIO") == 0) return EIO;
    if (strcasecmp(name, "EROFS") == 0) return EROFS;
    if (strcasecmp(name, "EDQUOT") == 0) return EDQUOT;
    return -1;
}

static void load_control(void) {
    struct fault f;
    memset(&f, 0, sizeof f);
    char text[1024];
    ssize_t n = 0;
    int fd = REAL(open)(control_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, text, sizeof text - 1);
        REAL(close)(fd);
    }
    text[n > 0 ? n : 0] = '\0';
    char *save = NULL;
    char *tok = strtok_r(text, " \t\r\n", &save);
    if (tok != NULL) {
        int err = parse_errno(tok);
        if (err == -1) {
            char msg[256];
            int m = snprintf(msg, sizeof msg, "fsfault: unknown errno %.64s in %.128s: no fault\n",
                             tok, control_path);
            if (m > 0) {
                ssize_t ignored = REAL(write)(2, msg, (size_t)m);
                (void)ignored;
            }
        } else {
            f.err = err;
            while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
                if (strcmp(tok, "write") == 0) f.ops |= F_WRITE;
                else if (strcmp(tok, "fsync") == 0) f.ops |= F_FSYNC;
                else if (strcmp(tok, "truncate") == 0) f.ops |= F_TRUNCATE;
                else if (strcmp(tok, "open") == 0) f.ops |= F_OPEN;
                else if (strcmp(tok, "meta") == 0) f.ops |= F_META;
                else if (strcmp(tok, "all") == 0)
                    f.ops |= F_WRITE | F_FSYNC | F_TRUNCATE | F_OPEN | F_META;
                else if (strcmp(tok, "grow") == 0) f.grow_only = 1;
                else if (strncmp(tok, "path=", 5) == 0)
                    snprintf(f.path_sub, sizeof f.path_sub, "%s", tok + 5);
            }
            if (f.ops == 0) f.ops = F_WRITE | F_FSYNC | F_TRUNCATE | F_OPEN;
        }
    }
    cur_fault = f;
}

/* The fault in force, re-read only when the control file changed (set_fault replaces it
 * by rename, so its inode changes on every update even within one mtime tick). */
static const struct fault *fault_now(void) {
    if (control_path[0] == '\0') return NULL;
    struct stat st;
    if (stat(control_path, &st) != 0) {
        control_known = 0;
        memset(&cur_fault, 0, sizeof cur_fault);
        return NULL;
    }
    if (!control_known || st.st_ino != control_st.st_ino || st.st_size != control_st.st_size ||
        st.st_mtim.tv_sec != control_st.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != control_st.st_mtim.tv_nsec ||
        st.st_ctim.tv_nsec != control_st.st_ctim.tv_nsec) {
        load_control();
        control_st = st;
        control_known = 1;
    }
    return cur_fault.err ? &cur_fault : NULL;
}

/* The fault that applies to this call, before knowing whether it allocates space. */
static const struct fault *fault_for(unsigned op, const char *path) {
    const struct fault *f = fault_now();
    if (f == NULL || !(f->ops & op)) return NULL;
    if (f->path_sub[0] && (path == NULL || strstr(path, f->path_sub) == NULL)) return NULL;
    return f;
}

/* The errno to fail this call with, or 0; `grows` says whether the call allocates space
 * (only asked when a "grow" fault is set). Call with the lock held. */
static int should_fail(unsigned op, const char *path, int (*grows)(const void *), const void *ctx) {
    const struct fault *f = fault_for(op, path);
    if (f == NULL || (f->grow_only && (grows == NULL || !grows(ctx)))) return 0;
    if (f->err == STALL) {
        /* A disk that hangs: journal the stall (a = 0), then hold the call, and with it the
         * process's every captured call (we keep the lock), until the control changes. */
        record(OP_FAULT, (int)op, 0, 0, path, NULL, NULL, 0, NULL, 0);
        while ((f = fault_for(op, path)) != NULL && f->err == STALL) {
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
        }
        if (f == NULL || (f->grow_only && (grows == NULL || !grows(ctx)))) return 0;
    }
    record(OP_FAULT, (int)op, 0, f->err, path, NULL, NULL, 0, NULL, 0);
    return f->err;
}

static int yes(const void *ctx) {
    (void)ctx;
    return 1;
}

static off_t fd_size(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_size : 0;
}

struct growth {
    int fd;
    off_t end;
};

/* Whether a write or truncate ending at `end` would extend the file (allocate space). */
static int past_eof(const void *ctx) {
    const struct growth *g = ctx;
    return g->end > fd_size(g->fd);
}

/* ---- the descriptor table --------------------------------------------------------------- */

static void forget(int fd) {
    if (fd < 0 || fd >= FD_MAX) return;
    if (fd_kind[fd] != K_NONE) {
        __atomic_store_n(&fd_kind[fd], K_NONE, __ATOMIC_RELEASE);
        free(fd_tab[fd].path);
        fd_tab[fd].path = NULL;
    }
}

static void remember(int fd, const char *abs, int oflags) {
    if (fd < 0 || fd >= FD_MAX) return;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    forget(fd);
    fd_tab[fd].path = strdup(abs);
    fd_tab[fd].ino = (uint64_t)st.st_ino;
    fd_tab[fd].oflags = oflags;
    fd_tab[fd].journaled = !is_shm(abs);
    __atomic_store_n(&fd_kind[fd], S_ISDIR(st.st_mode) ? K_DIR : K_FILE, __ATOMIC_RELEASE);
}

static void copy_entry(int from, int to) {
    if (to < 0 || to >= FD_MAX) return;
    forget(to);
    if (!tracked(from)) return;
    fd_tab[to].path = strdup(fd_tab[from].path);
    fd_tab[to].ino = fd_tab[from].ino;
    fd_tab[to].oflags = fd_tab[from].oflags;
    fd_tab[to].journaled = fd_tab[from].journaled;
    __atomic_store_n(&fd_kind[to], fd_kind[from], __ATOMIC_RELEASE);
}

/* The entry for a tracked fd, checked against the open file: a descriptor closed behind
 * our back (close_range, raw syscalls) and reused for something else is dropped. */
static struct entry *entry_for(int fd) {
    if (!tracked(fd)) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != fd_tab[fd].ino) {
        forget(fd);
        return NULL;
    }
    return &fd_tab[fd];
}

/* ---- set-up ------------------------------------------------------------------------------- */

static void atfork_prepare(void) { lock(); }
static void atfork_parent(void) { unlock(); }
static void atfork_child(void) {
    owner = getpid();
    unlock();
}

__attribute__((constructor)) static void fsfault_init(void) {
    const char *p = getenv("FSFAULT_PREFIX");
    if (p == NULL || p[0] != '/') return;
    normalize(p, prefix, sizeof prefix);
    prefix_len = strlen(prefix);
    char real[PATH_MAX];
    if (realpath(prefix, real) != NULL) {
        snprintf(prefix_real, sizeof prefix_real, "%s", real);
        prefix_real_len = strlen(prefix_real);
    }
    const char *c = getenv("FSFAULT_CONTROL");
    if (c != NULL && c[0]) snprintf(control_path, sizeof control_path, "%s", c);
    const char *j = getenv("FSFAULT_JOURNAL");
    if (j != NULL && j[0]) {
        jfd = REAL(open)(j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (jfd < 0) die("cannot open FSFAULT_JOURNAL");
    }
    owner = getpid();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    active = 1;
}

/* ---- open / close / dup --------------------------------------------------------------------- */

static int wants_mode(int flags) {
    return (flags & O_CREAT) || ((flags & O_TMPFILE) == O_TMPFILE);
}

static int writes(int flags) {
    return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
}

/* open(2) under the prefix: fail it if asked, note creations and truncations, track the fd. */
static int do_open(int dirfd, const char *path, int flags, mode_t mode,
                   int (*call)(int, const char *, int, mode_t)) {
    char abs[PATH_MAX];
    if (!mine() || (flags & O_TMPFILE) == O_TMPFILE || resolve(dirfd, path, abs) != 0 ||
        !under(abs))
        return call(dirfd, path, flags, mode);
    lock();
    struct stat before;
    int existed = fstatat(AT_FDCWD, abs, &before, 0) == 0;
    int creates = !existed && (flags & O_CREAT);
    const struct fault *f = writes(flags) ? fault_for(F_OPEN, abs) : NULL;
    /* A full disk refuses new files, not opening existing ones for writing. */
    if (f != NULL && (creates || (f->err != ENOSPC && f->err != EDQUOT))) {
        int err = should_fail(F_OPEN, abs, creates ? yes : NULL, NULL);
        if (err) {
            unlock();
            errno = err;
            return -1;
        }
    }
    int fd = call(dirfd, path, flags, mode);
    if (fd >= 0) {
        remember(fd, abs, flags);
        struct entry *e = tracked(fd) ? &fd_tab[fd] : NULL;
        if (e != NULL && e->journaled) {
            if (!existed && (flags & O_CREAT))
                record(OP_CREATE, 0, e->ino, 0, abs, NULL, NULL, 0, NULL, 0);
            else if (existed && (flags & O_TRUNC) && (flags & (O_WRONLY | O_RDWR)) &&
                     before.st_size > 0)
                record(OP_TRUNCATE, 0, e->ino, 0, abs, NULL, NULL, 0, NULL, 0);
        }
    }
    unlock();
    return fd;
}

static int call_openat(int dirfd, const char *path, int flags, mode_t mode) {
    return REAL(openat)(dirfd, path, flags, mode);
}

static int call_openat64(int dirfd, const char *path, int flags, mode_t mode) {
    return REAL(openat64)(dirfd, path, flags, mode);
}

#define VA_MODE(flags, mode)                   \
    mode_t mode = 0;                           \
    if (wants_mode(flags)) {                   \
        va_list ap;                            \
        va_start(ap, flags);                   \
        mode = (mode_t)va_arg(ap, int);        \
        va_end(ap);                            \
    }

int open(const char *path, int flags, ...) {
    VA_MODE(flags, mode);
    return do_open(AT_FDCWD, path, flags, mode, call_openat);
}

int open64(const char *path, int flags, ...) {
    VA_MODE(flags, mode);
    return do_open(AT_FDCWD, path, flags, mode, call_openat64);
}

int __open_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0, call_openat); }

int __open64_2(const char *path, int flags) {
    return do_open(AT_FDCWD, path, flags, 0, call_openat64);
}

int openat(int dirfd, const char *path, int flags, ...) {
    VA_MODE(flags, mode);
    return do_open(dirfd, path, flags, mode, call_openat);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    VA_MODE(flags, mode);
    return do_open(dirfd, path, flags, mode, call_openat64);
}

int __openat_2(int dirfd, const char *path, int flags) {
    return do_open(dirfd, path, flags, 0, call_openat);
}

int __openat64_2(int dirfd, const char *path, int flags) {
    return do_open(dirfd, path, flags, 0, call_openat64);
}

int creat(const char *path, mode_t mode) {
    return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, call_openat);
}

int creat64(const char *path, mode_t mode) {
    return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, call_openat64);
}

int close(int fd) {
    if (!tracked(fd) || !mine()) return REAL(close)(fd);
    lock();
    forget(fd);
    int rc = REAL(close)(fd);
    unlock();
    return rc;
}

int dup(int fd) {
    if (!tracked(fd) || !mine()) return REAL(dup)(fd);
    lock();
    int rc = REAL(dup)(fd);
    if (rc >= 0) copy_entry(fd, rc);
    unlock();
    return rc;
}

int dup2(int fd, int fd2) {
    if ((!tracked(fd) && !tracked(fd2)) || !mine()) return REAL(dup2)(fd, fd2);
    lock();
    int rc = REAL(dup2)(fd, fd2);
    if (rc >= 0 && fd != fd2) copy_entry(fd, fd2);
    unlock();
    return rc;
}

int dup3(int fd, int fd2, int flags) {
    if ((!tracked(fd) && !tracked(fd2)) || !mine()) return REAL(dup3)(fd, fd2, flags);
    lock();
    int rc = REAL(dup3)(fd, fd2, flags);
    if (rc >= 0) copy_entry(fd, fd2);
    unlock();
    return rc;
}

/* fcntl: only F_DUPFD* matter here (Python's os.dup); everything else passes straight on. */
static int do_fcntl(int (*call)(int, int, ...), int fd, int cmd, void *arg) {
    if ((cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) || !tracked(fd) || !mine())
        return call(fd, cmd, arg);
    lock();
    int rc = call(fd, cmd, arg);
    if (rc >= 0) copy_entry(fd, rc);
    unlock();
    return rc;
}

int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(REAL(fcntl), fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(REAL(fcntl64), fd, cmd, arg);
}

/* ---- writes ------------------------------------------------------------------------------ */

static size_t iov_total(const struct iovec *iov, int n) {
    size_t t = 0;
    for (int i = 0; i < n; i++) t += iov[i].iov_len;
    return t;
}

/* One write-like call on a tracked fd. `off` < 0: at the file position (or the end with
 * O_APPEND). `call` performs the real write; data comes from buf or iov. */
struct wreq {
    int fd;
    const void *buf;
    const struct iovec *iov;
    int iovcnt;
    size_t len;
    off_t off;
};

static ssize_t do_write(const struct wreq *r, ssize_t (*call)(const struct wreq *)) {
    if (!mine()) return call(r);
    lock();
    struct entry *e = entry_for(r->fd);
    if (e == NULL || fd_kind[r->fd] != K_FILE) {
        unlock();
        return call(r);
    }
    off_t at = r->off;
    if (at < 0) at = (e->oflags & O_APPEND) ? fd_size(r->fd) : lseek(r->fd, 0, SEEK_CUR);
    struct growth g = {r->fd, at + (off_t)r->len};
    int err = should_fail(F_WRITE, e->path, past_eof, &g);
    if (err) {
        unlock();
        errno = err;
        return -1;
    }
    ssize_t n = call(r);
    if (n > 0 && e->journaled) {
        record(OP_WRITE, 0, e->ino, at, e->path, NULL, r->buf, (size_t)n, r->iov, r->iovcnt);
        if (e->oflags & (O_SYNC | O_DSYNC))
            record(OP_FSYNC, 1, e->ino, 0, e->path, NULL, NULL, 0, NULL, 0);
    }
    unlock();
    return n;
}

static ssize_t w_write(const struct wreq *r) { return REAL(write)(r->fd, r->buf, r->len); }
static ssize_t w_pwrite(const struct wreq *r) {
    return REAL(pwrite)(r->fd, r->buf, r->len, r->off);
}
static ssize_t w_pwrite64(const struct wreq *r) {
    return REAL(pwrite64)(r->fd, r->buf, r->len, r->off);
}
static ssize_t w_writev(const struct wreq *r) { return REAL(writev)(r->fd, r->iov, r->iovcnt); }
static ssize_t w_pwritev(const struct wreq *r) {
    return REAL(pwritev)(r->fd, r->iov, r->iovcnt, r->off);
}
static ssize_t w_pwritev64(const struct wreq *r) {
    return REAL(pwritev64)(r->fd, r->iov, r->iovcnt, r->off);
}

ssize_t write(int fd, const void *buf, size_t len) {
    if (!tracked(fd)) return REAL(write)(fd, buf, len);
    struct wreq r = {fd, buf, NULL, 0, len, -1};
    return do_write(&r, w_write);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off) {
    if (!tracked(fd)) return REAL(pwrite)(fd, buf, len, off);
    struct wreq r = {fd, buf, NULL, 0, len, off};
    return do_write(&r, w_pwrite);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) {
    if (!tracked(fd)) return REAL(pwrite64)(fd, buf, len, off);
    struct wreq r = {fd, buf, NULL, 0, len, off};
    return do_write(&r, w_pwrite64);
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
    if (!tracked(fd)) return REAL(writev)(fd, iov, n);
    struct wreq r = {fd, NULL, iov, n, iov_total(iov, n), -1};
    return do_write(&r, w_writev);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off) {
    if (!tracked(fd)) return REAL(pwritev)(fd, iov, n, off);
    struct wreq r = {fd, NULL, iov, n, iov_total(iov, n), off};
    return do_write(&r, w_pwritev);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off) {
    if (!tracked(fd)) return REAL(pwritev64)(fd, iov, n, off);
    struct wreq r = {fd, NULL, iov, n, iov_total(iov, n), off};
    return do_write(&r, w_pwritev64);
}

/* pwritev2's flags (RWF_*) are carried through a thread-local: the wreq callback has no slot. */
static __thread int v2_flags;
static ssize_t w_pwritev2(const struct wreq *r) {
    return REAL(pwritev2)(r->fd, r->iov, r->iovcnt, r->off, v2_flags);
}
static ssize_t w_pwritev64v2(const struct wreq *r) {
    return REAL(pwritev64v2)(r->fd, r->iov, r->iovcnt, r->off, v2_flags);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags) {
    if (!tracked(fd)) return REAL(pwritev2)(fd, iov, n, off, flags);
    v2_flags = flags;
    struct wreq r = {fd, NULL, iov, n, iov_total(iov, n), off};
    return do_write(&r, w_pwritev2);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int n, off_t off, int flags) {
    if (!tracked(fd)) return REAL(pwritev64v2)(fd, iov, n, off, flags);
    v2_flags = flags;
    struct wreq r = {fd, NULL, iov, n, iov_total(iov, n), off};
    return do_write(&r, w_pwritev64v2);
}

/* ---- fallocate ------------------------------------------------------------------------------ */

/* posix_fallocate (mode 0, returns the error number) and fallocate (returns -1 and errno).
 * A "write" fault: allocating space is what a full disk refuses. */
struct falloc {
    int posix;
    int mode;
    int (*posix_call)(int, off_t, off_t);
    int (*call)(int, int, off_t, off_t);
};

static int falloc_run(const struct falloc *f, int fd, off_t off, off_t len) {
    if (f->posix) return f->posix_call(fd, off, len);
    return f->call(fd, f->mode, off, len) == 0 ? 0 : errno;
}

static int do_fallocate(const struct falloc *f, int fd, off_t off, off_t len) {
    if (!tracked(fd) || !mine()) return falloc_run(f, fd, off, len);
    lock();
    struct entry *e = entry_for(fd);
    if (e == NULL || fd_kind[fd] != K_FILE) {
        unlock();
        return falloc_run(f, fd, off, len);
    }
    int err = should_fail(F_WRITE, e->path, (f->mode & FALLOC_FL_PUNCH_HOLE) ? NULL : yes, NULL);
    if (err) {
        unlock();
        return err;
    }
    int rc = falloc_run(f, fd, off, len);
    if (rc == 0 && e->journaled) {
        int64_t length = (int64_t)len;
        record(OP_FALLOCATE, f->mode, e->ino, off, e->path, NULL, &length, sizeof length, NULL, 0);
    }
    unlock();
    return rc;
}

int posix_fallocate(int fd, off_t off, off_t len) {
    struct falloc f = {1, 0, REAL(posix_fallocate), NULL};
    return do_fallocate(&f, fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len) {
    struct falloc f = {1, 0, REAL(posix_fallocate64), NULL};
    return do_fallocate(&f, fd, off, len);
}

static int fallocate_errno(int rc) {
    if (rc == 0) return 0;
    errno = rc;
    return -1;
}

int fallocate(int fd, int mode, off_t off, off_t len) {
    struct falloc f = {0, mode, NULL, REAL(fallocate)};
    return fallocate_errno(do_fallocate(&f, fd, off, len));
}

int fallocate64(int fd, int mode, off_t off, off_t len) {
    struct falloc f = {0, mode, NULL, REAL(fallocate64)};
    return fallocate_errno(do_fallocate(&f, fd, off, len));
}

/* ---- truncate ------------------------------------------------------------------------------- */

static int do_ftruncate(int (*call)(int, off_t), int fd, off_t len) {
    if (!tracked(fd) || !mine()) return call(fd, len);
    lock();
    struct entry *e = entry_for(fd);
    if (e == NULL || fd_kind[fd] != K_FILE) {
        unlock();
        return call(fd, len);
    }
    struct growth g = {fd, len};
    int err = should_fail(F_TRUNCATE, e->path, past_eof, &g);
    if (err) {
        unlock();
        errno = err;
        return -1;
    }
    int rc = call(fd, len);
    if (rc == 0 && e->journaled)
        record(OP_TRUNCATE, 0, e->ino, len, e->path, NULL, NULL, 0, NULL, 0);
    unlock();
    return rc;
}

int ftruncate(int fd, off_t len) { return do_ftruncate(REAL(ftruncate), fd, len); }
int ftruncate64(int fd, off_t len) { return do_ftruncate(REAL(ftruncate64), fd, len); }

static int do_truncate(int (*call)(const char *, off_t), const char *path, off_t len) {
    char abs[PATH_MAX];
    if (!mine() || resolve(AT_FDCWD, path, abs) != 0 || !under(abs)) return call(path, len);
    lock();
    struct stat st;
    int have = stat(abs, &st) == 0;
    int err = should_fail(F_TRUNCATE, abs, (have && len > st.st_size) ? yes : NULL, NULL);
    if (err) {
        unlock();
        errno = err;
        return -1;
    }
    int rc = call(path, len);
    if (rc == 0 && have && !is_shm(abs))
        record(OP_TRUNCATE, 0, (uint64_t)st.st_ino, len, abs, NULL, NULL, 0, NULL, 0);
    unlock();
    return rc;
}

int truncate(const char *path, off_t len) { return do_truncate(REAL(truncate), path, len); }
int truncate64(const char *path, off_t len) { return do_truncate(REAL(truncate64), path, len); }

/* ---- sync ----------------------------------------------------------------------------------- */

static int do_sync(int (*call)(int), int fd, int datasync) {
    if (!tracked(fd) || !mine()) return call(fd);
    lock();
    struct entry *e = entry_for(fd);
    if (e == NULL) {
        unlock();
        return call(fd);
    }
    int err = should_fail(F_FSYNC, e->path, NULL, NULL);
    if (err) {
        unlock();
        errno = err;
        return -1;
    }
    int rc = call(fd);
    if (rc == 0 && e->journaled) {
        if (fd_kind[fd] == K_DIR)
            record(OP_DIRSYNC, datasync, e->ino, 0, e->path, NULL, NULL, 0, NULL, 0);
        else
            record(OP_FSYNC, datasync, e->ino, 0, e->path, NULL, NULL, 0, NULL, 0);
    }
    unlock();
    return rc;
}

int fsync(int fd) { return do_sync(REAL(fsync), fd, 0); }
int fdatasync(int fd) { return do_sync(REAL(fdatasync), fd, 1); }

void sync(void) {
    if (!mine()) {
        REAL(sync)();
        return;
    }
    lock();
    REAL(sync)();
    record(OP_SYNCALL, 0, 0, 0, prefix, NULL, NULL, 0, NULL, 0);
    unlock();
}

int syncfs(int fd) {
    if (!mine()) return REAL(syncfs)(fd);
    lock();
    int rc = REAL(syncfs)(fd);
    if (rc == 0) record(OP_SYNCALL, 1, 0, 0, prefix, NULL, NULL, 0, NULL, 0);
    unlock();
    return rc;
}

/* ---- namespace ---------------------------------------------------------------------------- */

/* A path operation under the prefix: fail it if asked ("meta"), run it, journal it. */
static int do_path_op(int op, int dirfd, const char *path, int (*run)(void *), void *ctx) {
    char abs[PATH_MAX];
    if (!mine() || resolve(dirfd, path, abs) != 0 || !under(abs)) return run(ctx);
    lock();
    int err = should_fail(F_META, abs, op == OP_MKDIR ? yes : NULL, NULL);
    if (err) {
        unlock();
        errno = err;
        return -1;
    }
    int rc = run(ctx);
    if (rc == 0 && !is_shm(abs)) record(op, 0, 0, 0, abs, NULL, NULL, 0, NULL, 0);
    unlock();
    return rc;
}

struct pctx {
    int dirfd;
    const char *path;
    int flags;
    mode_t mode;
};

static int r_unlink(void *c) { return REAL(unlink)(((struct pctx *)c)->path); }
static int r_unlinkat(void *c) {
    struct pctx *p = c;
    return REAL(unlinkat)(p->dirfd, p->path, p->flags);
}
static int r_mkdir(void *c) {
    struct pctx *p = c;
    return REAL(mkdir)(p->path, p->mode);
}
static int r_mkdirat(void *c) {
    struct pctx *p = c;
    return REAL(mkdirat)(p->dirfd, p->path, p->mode);
}
static int r_rmdir(void *c) { return REAL(rmdir)(((struct pctx *)c)->path); }

int unlink(const char *path) {
    struct pctx c = {AT_FDCWD, path, 0, 0};
    return do_path_op(OP_UNLINK, AT_FDCWD, path, r_unlink, &c);
}

int unlinkat(int dirfd, const char *path, int flags) {
    struct pctx c = {dirfd, path, flags, 0};
    return do_path_op((flags & AT_REMOVEDIR) ? OP_RMDIR : OP_UNLINK, dirfd, path, r_unlinkat, &c);
}

int mkdir(const char *path, mode_t mode) {
    struct pctx c = {AT_FDCWD, path, 0, mode};
    return do_path_op(OP_MKDIR, AT_FDCWD, path, r_mkdir, &c);
}

int mkdirat(int dirfd, const char *path, mode_t mode) {
    struct pctx c = {dirfd, path, 0, mode};
    return do_path_op(OP_MKDIR, dirfd, path, r_mkdirat, &c);
}

int rmdir(const char *path) {
    struct pctx c = {AT_FDCWD, path, 0, 0};
    return do_path_op(OP_RMDIR, AT_FDCWD, path, r_rmdir, &c);
}

static int do_rename(int olddir, const char *old, int newdir, const char *new_, unsigned flags,
                     int which) {
    char a[PATH_MAX], b[PATH_MAX];
    int ok = mine() && resolve(olddir, old, a) == 0 && resolve(newdir, new_, b) == 0 &&
             (under(a) || under(b));
    if (!ok) goto passthrough;
    lock();
    int err = should_fail(F_META, b, NULL, NULL);
    if (err) {
        unlock();
        errno = err;
        return -1;
    }
    int rc = which == 0   ? REAL(rename)(old, new_)
             : which == 1 ? REAL(renameat)(olddir, old, newdir, new_)
                          : REAL(renameat2)(olddir, old, newdir, new_, flags);
    if (rc == 0) record(OP_RENAME, (int)flags, 0, 0, a, b, NULL, 0, NULL, 0);
    unlock();
    return rc;
passthrough:
    if (which == 0) return REAL(rename)(old, new_);
    if (which == 1) return REAL(renameat)(olddir, old, newdir, new_);
    return REAL(renameat2)(olddir, old, newdir, new_, flags);
}

int rename(const char *old, const char *new_) {
    return do_rename(AT_FDCWD, old, AT_FDCWD, new_, 0, 0);
}

int renameat(int olddir, const char *old, int newdir, const char *new_) {
    return do_rename(olddir, old, newdir, new_, 0, 1);
}

int renameat2(int olddir, const char *old, int newdir, const char *new_, unsigned flags) {
    return do_rename(olddir, old, newdir, new_, flags, 2);
}

/* ---- statvfs: a read-only fault is a read-only filesystem ---------------------------- */

/* While an EROFS fault is set, statvfs of a path under the prefix says ST_RDONLY, as the
 * kernel does once it remounted a failing filesystem read-only. */
static int read_only_fault(const char *path) {
    char abs[PATH_MAX];
    if (!mine() || resolve(AT_FDCWD, path, abs) != 0 || !under(abs)) return 0;
    lock();
    const struct fault *f = fault_now();
    int ro = f != NULL && f->err == EROFS;
    unlock();
    return ro;
}

int statvfs(const char *path, struct statvfs *buf) {
    int rc = REAL(statvfs)(path, buf);
    if (rc == 0 && read_only_fault(path)) buf->f_flag |= ST_RDONLY;
    return rc;
}

int statvfs64(const char *path, struct statvfs64 *buf) {
    int rc = REAL(statvfs64)(path, buf);
    if (rc == 0 && read_only_fault(path)) buf->f_flag |= ST_RDONLY;
    return rc;
}
