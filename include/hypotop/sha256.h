/*
 * sha256.h — SHA-256 (FIPS 180-4), for the fingerprints of SSH host keys
 * (sshconn.c): libssh2 hashes only the key the host sent, never one read
 * from known_hosts, and its crypto library is not linked here.
 */
#ifndef HYPOTOP_SHA256_H
#define HYPOTOP_SHA256_H

#include <stddef.h>

void sha256(const void *data, size_t len, unsigned char out[32]);

#endif
