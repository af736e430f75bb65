/* smtpsload: one SMTP submission client (STARTTLS + AUTH PLAIN), for tests/bench/bench.py.
 *
 * Sends --count messages of about --size bytes, --per-conn of them per connection:
 *   connect, 220, EHLO, STARTTLS, 220, TLS 1.3 handshake, EHLO, AUTH PLAIN (one line),
 *   then per message MAIL FROM, RCPT TO, DATA, the message and its ".", each command
 *   waiting for its reply (no PIPELINING, like smtp-source without -P), then QUIT.
 * Prints one JSON line:
 *   {"t0": start, "t1": end, "messages": n, "connections": c, "tls_version": ..., ...}
 * Written in C for the reason pop3load.c is: a client in Python would take CPU from the
 * server it measures on this 2-core machine. TLS details in loadtls.h.
 *
 *   smtpsload --port P --user U --password S --from A --to A --size BYTES --count N
 *             [--per-conn K] [--helo NAME] [--cafile PEM] [--plain]
 *
 * --plain: no STARTTLS (AUTH in plaintext), to see what TLS itself costs.
 *
 * A connection that the server closes or resets before AUTH has succeeded is made again (at
 * most 100 times per process), as a mail client would on its next send; "retries" in the
 * JSON counts them. Anything else unexpected ends the process with an error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "loadtls.h"

enum { kBuffer = 64 * 1024 };

static char buffer[kBuffer];
static size_t have; /* bytes in buffer not consumed yet */
static const char *server_name = "mail.example.test";
static const char *awaiting = "the greeting"; /* for the error message: what the client waits for */
static int before_auth;                      /* a lost connection is retried (see above) */
static jmp_buf retry_connection;

static void die(const char *what) {
    fprintf(stderr, "smtpsload: %s (awaiting the reply to %s): %s\n", what, awaiting,
            errno ? strerror(errno) : "failed");
    exit(1);
}

static double now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void fill(int fd) {
    if (have == kBuffer) die("reply too long");
    ssize_t n = net_recv(fd, buffer + have, kBuffer - have);
    if (n <= 0) {
        if (n == 0) errno = 0;
        if (before_auth) longjmp(retry_connection, 1);
        die("connection closed");
    }
    have += (size_t)n;
}

/* Reads one reply (all its lines) and exits unless its code is `expect`. The last line
 * of a reply has a space (or nothing) after the code, the others a hyphen. */
static void reply(int fd, int expect, const char *after) {
    awaiting = after;
    for (;;) {
        char *end;
        while ((end = memmem(buffer, have, "\r\n", 2)) == NULL) fill(fd);
        size_t len = (size_t)(end - buffer);
        int last = len < 4 || buffer[3] != '-';
        int code = len >= 3 ? atoi(buffer) : 0;
        if (code != expect) {
            errno = 0;
            fprintf(stderr, "smtpsload: after %s the server said \"%.*s\"\n", after, (int)len, buffer);
            exit(1);
        }
        size_t used = len + 2;
        memmove(buffer, buffer + used, have - used);
        have -= used;
        if (last) return;
    }
}

static void send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = net_send(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("send");
        }
        data += n;
        len -= (size_t)n;
    }
}

static void command(int fd, int expect, const char *fmt, const char *arg) {
    char text[1024];
    int len = snprintf(text, sizeof text, fmt, arg);
    send_all(fd, text, (size_t)len);
    reply(fd, expect, text);
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

/* The message body after its headers: lines of text (none starts with "."), up to about
 * `size` bytes in all, ending with CRLF and the terminating ".". */
static char *make_body(size_t size, size_t *out_len) {
    char *body = malloc(size + 256);
    if (!body) die("malloc");
    size_t len = 0;
    for (int k = 0; len + 100 < size; ++k)
        len += (size_t)sprintf(body + len, "La de da de da %d. The quick brown fox jumps over the lazy dog 0123456789.\r\n",
                               k);
    memcpy(body + len, "The end.\r\n.\r\n", 13);
    *out_len = len + 13;
    return body;
}

int main(int argc, char **argv) {
    /* static: the connection loop longjmps back (before_auth), which may clobber automatic ones */
    static int port = 0, per_conn = 1, plain = 0;
    static long count = 0;
    static size_t size = 1024;
    static const char *user = NULL, *password = NULL, *from = NULL, *to = NULL, *helo = "client.example.test";
    static const char *cafile = NULL;
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--plain") == 0) {
            plain = 1;
            --i;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "smtpsload: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--port") == 0) port = atoi(v);
        else if (strcmp(argv[i], "--user") == 0) user = v;
        else if (strcmp(argv[i], "--password") == 0) password = v;
        else if (strcmp(argv[i], "--from") == 0) from = v;
        else if (strcmp(argv[i], "--to") == 0) to = v;
        else if (strcmp(argv[i], "--size") == 0) size = (size_t)atol(v);
        else if (strcmp(argv[i], "--count") == 0) count = atol(v);
        else if (strcmp(argv[i], "--per-conn") == 0) per_conn = atoi(v);
        else if (strcmp(argv[i], "--helo") == 0) helo = v;
        else if (strcmp(argv[i], "--cafile") == 0) cafile = v;
        else {
            fprintf(stderr, "smtpsload: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (port <= 0 || !user || !password || !from || !to || count <= 0 || per_conn <= 0 || size < 200) {
        fprintf(stderr, "usage: smtpsload --port P --user U --password S --from A --to A --size BYTES "
                        "--count N [--per-conn K] [--helo NAME] [--cafile PEM] [--plain]\n");
        return 2;
    }
    tls_init(cafile);

    /* AUTH PLAIN's initial response: base64("\0user\0password") */
    char creds[1024];
    int creds_len = snprintf(creds, sizeof creds, "%c%s%c%s", 0, user, 0, password);
    unsigned char auth[1400];
    EVP_EncodeBlock(auth, (const unsigned char *)creds, creds_len);

    size_t body_len;
    char *body = make_body(size, &body_len);
    char *message = malloc(body_len + 1024);
    if (!message) die("malloc");

    static double t0;
    static long sent = 0, connections = 0, retries = 0;
    t0 = now();
    while (sent < count) {
        volatile int fd = connect_to(port);
        have = 0;
        ++connections;
        before_auth = 1;
        if (setjmp(retry_connection)) {
            if (tls) {
                SSL_free(tls);
                tls = NULL;
            }
            close(fd);
            if (++retries > 100) {
                errno = 0;
                die("too many connections lost before AUTH");
            }
            continue;
        }
        reply(fd, 220, "connect");
        command(fd, 250, "EHLO %s\r\n", helo);
        if (!plain) {
            command(fd, 220, "STARTTLS\r\n", "");
            if (have != 0) {
                errno = 0;
                die("data after the STARTTLS reply");
            }
            tls_start(fd, server_name, cafile != NULL);
            command(fd, 250, "EHLO %s\r\n", helo);
        }
        command(fd, 235, "AUTH PLAIN %s\r\n", (const char *)auth);
        before_auth = 0;
        for (int k = 0; k < per_conn && sent < count; ++k, ++sent) {
            command(fd, 250, "MAIL FROM:<%s>\r\n", from);
            command(fd, 250, "RCPT TO:<%s>\r\n", to);
            command(fd, 354, "DATA\r\n", "");
            int head = snprintf(message, 1024,
                                "From: <%s>\r\nTo: <%s>\r\nSubject: submission bench %d-%ld\r\n"
                                "Message-ID: <smtpsload-%d-%ld@client.example.test>\r\n"
                                "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
                                from, to, (int)getpid(), sent, (int)getpid(), sent);
            memcpy(message + head, body, body_len);
            send_all(fd, message, (size_t)head + body_len);
            reply(fd, 250, "the message's final dot");
        }
        command(fd, 221, "QUIT\r\n", "");
        tls_end();
        close(fd);
    }
    printf("{\"t0\": %.6f, \"t1\": %.6f, \"messages\": %ld, \"connections\": %ld, \"retries\": %ld", t0, now(), sent,
           connections, retries);
    tls_print_json_fields();
    printf("}\n");
    free(message);
    free(body);
    return 0;
}
