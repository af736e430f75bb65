/* loadtls.h: the TLS client side of the bench's load generators (pop3load.c, smtpsload.c).
 *
 * One connection at a time per process: net_recv/net_send go through OpenSSL once
 * tls_start() has run on the socket, through the plain socket before (and with no TLS at
 * all). TLS 1.3 only, so both servers are measured with the same protocol; every
 * connection makes a full handshake (no session resumption), the costly case for the
 * server and what a client that reconnects after minutes does. With --cafile the server's
 * chain is verified against it (the bench's self-signed certificate) and its name
 * checked, so a server that presents something else fails the run.
 */
#ifndef POSTROOM_BENCH_LOADTLS_H
#define POSTROOM_BENCH_LOADTLS_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL_CTX *tls_ctx;
static SSL *tls;                  /* the connection's TLS, NULL while plaintext */
static char tls_version[32] = "";  /* what the last handshake negotiated */
static char tls_cipher[64] = "";
static char tls_group[32] = "";

static void tls_die(const char *what) {
    fprintf(stderr, "%s: ", what);
    ERR_print_errors_fp(stderr);
    fputc('\n', stderr);
    exit(1);
}

/* cafile may be NULL (no verification). */
static void tls_init(const char *cafile) {
    signal(SIGPIPE, SIG_IGN);
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) tls_die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(tls_ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET);
    if (cafile) {
        if (SSL_CTX_load_verify_locations(tls_ctx, cafile, NULL) != 1) tls_die("load --cafile");
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    }
}

/* Handshake on fd (after STARTTLS's 220, or right after connect for implicit TLS). */
static void tls_start(int fd, const char *host, int verify) {
    tls = SSL_new(tls_ctx);
    if (!tls) tls_die("SSL_new");
    SSL_set_fd(tls, fd);
    SSL_set_tlsext_host_name(tls, host);
    if (verify) SSL_set1_host(tls, host);
    if (SSL_connect(tls) != 1) tls_die("TLS handshake");
    snprintf(tls_version, sizeof tls_version, "%s", SSL_get_version(tls));
    snprintf(tls_cipher, sizeof tls_cipher, "%s", SSL_get_cipher_name(tls));
    int nid = SSL_get_negotiated_group(tls);
    const char *group = nid ? OBJ_nid2sn(nid) : "?";
    snprintf(tls_group, sizeof tls_group, "%s", group ? group : "?");
}

/* After the server's last reply: close_notify (what a well-behaved client sends), then free. */
static void tls_end(void) {
    if (!tls) return;
    SSL_shutdown(tls);
    SSL_free(tls);
    tls = NULL;
}

static ssize_t net_recv(int fd, void *buf, size_t len) {
    if (!tls) return recv(fd, buf, len, 0);
    int n = SSL_read(tls, buf, len > 0x7fffffff ? 0x7fffffff : (int)len);
    if (n > 0) return n;
    int err = SSL_get_error(tls, n);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    if (err == SSL_ERROR_SSL) tls_die("SSL_read");
    return err == SSL_ERROR_SYSCALL && errno == 0 ? 0 : -1;
}

static ssize_t net_send(int fd, const void *buf, size_t len) {
    if (!tls) return send(fd, buf, len, MSG_NOSIGNAL);
    int n = SSL_write(tls, buf, len > 0x7fffffff ? 0x7fffffff : (int)len);
    if (n > 0) return n;
    if (SSL_get_error(tls, n) == SSL_ERROR_SSL) tls_die("SSL_write");
    return -1;
}

/* The JSON fields that say what was negotiated (empty strings without TLS). */
static void tls_print_json_fields(void) {
    printf(", \"tls_version\": \"%s\", \"tls_cipher\": \"%s\", \"tls_group\": \"%s\"", tls_version, tls_cipher,
           tls_group);
}

#endif
