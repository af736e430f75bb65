/* pop3load: one POP3 load-generating client, for tests/bench/bench.py.
 *
 * For each --user in turn: connect, USER/PASS, STAT, RETR 1..n (one at a time, each
 * read to its terminating CRLF.CRLF), QUIT. Prints one JSON line:
 *   {"t0": start, "t1": end, "messages": n, "bytes": b}
 * Same semantics as the Python client it replaces (bench.py's pop3-client mode), at a
 * fraction of the CPU: on 2 cores a Python client took about one core away from the
 * server it was measuring.
 *
 *   pop3load --port P --password S [--hold SECS] [--barrier PATH] [--newest] [--tls] [--cafile PEM]
 *            --user U [--user U ...]
 *
 * --hold: after the first MiB of each RETR, sleep SECS (a slow reader, for memory tests).
 * --barrier: after the first login and STAT, create PATH.ready.PID, then wait (at most
 *            120 s) until PATH exists; t0 is taken after the wait.
 * --newest: instead of RETR 1..n: UIDL (the whole listing), then RETR of the newest message
 *           only (n), then QUIT: what a "leave mail on server" client does on each poll. With
 *           --barrier the wait comes after UIDL (the session holds its listing state), and
 *           the JSON's "waited" says how long it lasted, for the driver to subtract.
 * --tls: POP3S (implicit TLS 1.3 from the first byte, the 995 listener); --cafile: verify
 *        the server's certificate against PEM (name mail.example.test). See loadtls.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "loadtls.h"

enum { kBuffer = 256 * 1024, kMaxUsers = 64 };

static char buffer[kBuffer];
static size_t have;  /* bytes in buffer not consumed yet */

static void die(const char *what) {
    fprintf(stderr, "pop3load: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

static double now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void fill(int fd) {
    if (have == kBuffer) die("status line too long");
    ssize_t n = net_recv(fd, buffer + have, kBuffer - have);
    if (n <= 0) {
        if (n == 0) errno = 0;
        die("connection closed");
    }
    have += (size_t)n;
}

/* Reads one status line; exits unless it is +OK. Returns the line (NUL-terminated,
 * valid until the next read). */
static char *status_line(int fd) {
    static char line[1024];
    char *end;
    while ((end = memmem(buffer, have, "\r\n", 2)) == NULL) fill(fd);
    size_t len = (size_t)(end - buffer);
    if (len >= sizeof line) len = sizeof line - 1;
    memcpy(line, buffer, len);
    line[len] = 0;
    size_t used = (size_t)(end - buffer) + 2;
    memmove(buffer, buffer + used, have - used);
    have -= used;
    if (strncmp(line, "+OK", 3) != 0) {
        errno = 0;
        fprintf(stderr, "pop3load: server said \"%s\"\n", line);
        exit(1);
    }
    return line;
}

static void send_all(int fd, const char *text) {
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t n = net_send(fd, text, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("send");
        }
        text += n;
        len -= (size_t)n;
    }
}

static char *command(int fd, const char *fmt, const char *arg) {
    char text[600];
    snprintf(text, sizeof text, fmt, arg);
    send_all(fd, text);
    return status_line(fd);
}

/* Sends a command with a multi-line answer (fmt with arg), reads its status line and the
 * lines to their terminator; returns the bytes as sent (dot-stuffed, with the
 * terminator). A line "." is stuffed to "..", so the terminator can only be the end of
 * what arrived. */
static size_t multiline(int fd, const char *fmt, const char *arg, double hold) {
    command(fd, fmt, arg);
    size_t total = have;
    char tail[5] = "\r\n\0\0";  /* the last bytes seen: the status line ended in CRLF */
    size_t tail_len = 2;
    int held = hold <= 0;
    for (;;) {
        if (have > 0) {
            /* does tail + buffer end with CRLF.CRLF? */
            char window[10];
            size_t from_tail = have >= 5 ? 0 : (tail_len < 5 - have ? tail_len : 5 - have);
            size_t from_buf = have >= 5 ? 5 : have;
            memcpy(window, tail + tail_len - from_tail, from_tail);
            memcpy(window + from_tail, buffer + have - from_buf, from_buf);
            size_t window_len = from_tail + from_buf;
            if (window_len == 5 && memcmp(window, "\r\n.\r\n", 5) == 0) {
                have = 0;
                return total;
            }
            memcpy(tail, window, window_len);
            tail_len = window_len;
            have = 0;
        }
        if (!held && total >= 1024 * 1024) {
            struct timespec ts = {(time_t)hold, (long)((hold - (double)(time_t)hold) * 1e9)};
            nanosleep(&ts, NULL);
            held = 1;
        }
        ssize_t got = net_recv(fd, buffer, kBuffer);
        if (got <= 0) {
            if (got == 0) errno = 0;
            die("connection closed during RETR");
        }
        have = (size_t)got;
        total += have;
    }
}

/* RETR n: the message to its terminator; returns its bytes as sent. */
static size_t retrieve(int fd, long n, double hold) {
    char number[32];
    snprintf(number, sizeof number, "%ld", n);
    return multiline(fd, "RETR %s\r\n", number, hold);
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Returns the seconds spent waiting. */
static double wait_for_barrier(const char *barrier) {
    char ready[4096];
    snprintf(ready, sizeof ready, "%s.ready.%d", barrier, (int)getpid());
    int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("barrier ready file");
    close(fd);
    double deadline = now() + 120;
    struct stat st;
    while (stat(barrier, &st) != 0 && now() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return now() - (deadline - 120);
}

int main(int argc, char **argv) {
    int port = 0;
    const char *password = NULL, *barrier = NULL;
    double hold = 0;
    const char *users[kMaxUsers];
    int nusers = 0, use_tls = 0, newest = 0;
    const char *cafile = NULL;
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--tls") == 0) {
            use_tls = 1;
            --i;  /* a flag: no value */
            continue;
        }
        if (strcmp(argv[i], "--newest") == 0) {
            newest = 1;
            --i;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "pop3load: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--password") == 0) password = argv[i + 1];
        else if (strcmp(argv[i], "--hold") == 0) hold = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--barrier") == 0) barrier = argv[i + 1];
        else if (strcmp(argv[i], "--cafile") == 0) cafile = argv[i + 1];
        else if (strcmp(argv[i], "--user") == 0 && nusers < kMaxUsers) users[nusers++] = argv[i + 1];
        else {
            fprintf(stderr, "pop3load: unknown or repeated argument %s\n", argv[i]);
            return 2;
        }
    }
    if (port <= 0 || !password || nusers == 0) {
        fprintf(stderr, "usage: pop3load --port P --password S [--hold SECS] [--barrier PATH] [--newest] [--tls] "
                        "[--cafile PEM] --user U ...\n");
        return 2;
    }
    if (use_tls) tls_init(cafile);
    double t0 = now();
    long messages = 0;
    double waited = 0;
    unsigned long long bytes = 0;
    for (int u = 0; u < nusers; ++u) {
        int fd = connect_to(port);
        have = 0;
        if (use_tls) tls_start(fd, "mail.example.test", cafile != NULL);
        status_line(fd);
        command(fd, "USER %s\r\n", users[u]);
        command(fd, "PASS %s\r\n", password);
        long count = strtol(command(fd, "STAT\r\n", "") + 4, NULL, 10);
        if (newest) {
            bytes += multiline(fd, "UIDL\r\n", "", 0);
            if (barrier && u == 0) waited = wait_for_barrier(barrier);
            if (count > 0) bytes += retrieve(fd, count, hold);
            command(fd, "QUIT\r\n", "");
            tls_end();
            close(fd);
            messages += count > 0;
            continue;
        }
        if (barrier && u == 0) {
            wait_for_barrier(barrier);
            t0 = now();
        }
        for (long i = 1; i <= count; ++i) bytes += retrieve(fd, i, hold);
        command(fd, "QUIT\r\n", "");
        tls_end();
        close(fd);
        messages += count;
    }
    printf("{\"t0\": %.6f, \"t1\": %.6f, \"messages\": %ld, \"bytes\": %llu, \"waited\": %.6f", t0, now(),
           messages, bytes, waited);
    tls_print_json_fields();
    printf("}\n");
    return 0;
}
