/*
 * sshhost.c — strict host-key checking for sshconn.c, as OpenSSH does it
 * with StrictHostKeyChecking yes (or accept-new): see sshconn_int.h.
 *
 * known_hosts is read line by line rather than by libssh2_knownhost_readfile,
 * which gives up on the whole file at the first line it cannot parse
 * (@cert-authority, @revoked, a key type it does not know): such lines are
 * left out of the check and kept in the file. A new key is appended to the
 * file's bytes as they are, never written back from what libssh2 parsed,
 * which would drop comments and every line it skipped.
 */
#include "hypotop/sshconn.h"
#include "hypotop/sshconn_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/sha256.h"
#include "hypotop/util.h"

#define KNOWN_HOSTS_MAX ((size_t)64 << 20)

/* Two connections recording keys at once must not lose one of them. */
static pthread_mutex_t record_mu = PTHREAD_MUTEX_INITIALIZER;

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_encode(const unsigned char *p, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < outsz; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = b64[v & 63];
	}
	out[o] = 0;
}

/* The bytes of base64 text s (padding and blanks ignored); caller frees. */
static unsigned char *base64_decode(const char *s, size_t *len)
{
	unsigned char *out = xmalloc(strlen(s) / 4 * 3 + 3);
	uint32_t v = 0;
	int bits = 0;

	*len = 0;
	for (; *s; s++) {
		const char *c = strchr(b64, *s);
		if (!c)
			continue;
		v = v << 6 | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[(*len)++] = (unsigned char)(v >> bits);
		}
	}
	return out;
}

void sshc_fingerprint(const unsigned char *key, size_t len, char *out, size_t outsz)
{
	unsigned char h[32];
	char text[48];

	sha256(key, len, h);
	base64_encode(h, sizeof h, text, sizeof text);
	snprintf(out, outsz, "SHA256:%s", text);
}

static void stored_fingerprint(const struct libssh2_knownhost *k, char *out, size_t outsz)
{
	size_t n;
	unsigned char *blob = base64_decode(k->key, &n);

	sshc_fingerprint(blob, n, out, outsz);
	free(blob);
}

static int key_mask(int hostkey_type)
{
	switch (hostkey_type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case LIBSSH2_HOSTKEY_TYPE_DSS:
		return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return LIBSSH2_KNOWNHOST_KEY_ED25519;
	}
	return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
}

/* Every line of text that libssh2 understands into kh. */
static void load_lines(LIBSSH2_KNOWNHOSTS *kh, char *text)
{
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		while (*line == ' ' || *line == '\t')
			line++;
		/* Markers (@cert-authority, @revoked) are OpenSSH's own. */
		if (*line && *line != '#' && *line != '@')
			libssh2_knownhost_readline(kh, line, strlen(line),
						   LIBSSH2_KNOWNHOST_FILE_OPENSSH);
		if (nl)
			*nl = '\n';
		line = nl ? nl + 1 : NULL;
	}
}

/* Append the line of the new key k to known_hosts (text: its bytes now). */
static int record(LIBSSH2_KNOWNHOSTS *kh, struct libssh2_knownhost *k, const char *path,
		  const char *text, size_t len, char *why, size_t whysz)
{
	char line[8192];
	size_t n = 0;
	struct stat st;
	struct err e = {{0}};

	if (libssh2_knownhost_writeline(kh, k, line, sizeof line, &n,
					LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
		snprintf(why, whysz, "cannot write the host's key as a known_hosts line");
		return -1;
	}
	struct buf b;
	buf_init(&b);
	buf_add(&b, text, len);
	if (len && text[len - 1] != '\n')
		buf_addc(&b, '\n');
	buf_add(&b, line, n);
	/* A link (to dotfiles kept elsewhere) stays a link: its target is replaced. */
	char *real = stat(path, &st) == 0 ? path_real(path, &e) : NULL;
	mode_t mode = real ? st.st_mode & 07777 : 0644;
	int rc = 0;
	if (!real) {
		/* As OpenSSH makes ~/.ssh on first use. */
		char *parent = xstrdup(path), *slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = 0;
			rc = fs_mkdir_p(parent, 0700, &e);
		}
		free(parent);
	}
	if (rc == 0)
		rc = fs_write_atomic(real ? real : path, b.data, b.len, mode, &e);
	buf_free(&b);
	free(real);
	if (rc < 0)
		snprintf(why, whysz, "cannot record the host's key: %s", e.msg);
	return rc;
}

static const char *type_name(int mask)
{
	switch (mask) {
	case LIBSSH2_KNOWNHOST_KEY_SSHRSA:
		return "ssh-rsa";
	case LIBSSH2_KNOWNHOST_KEY_SSHDSS:
		return "ssh-dss";
	case LIBSSH2_KNOWNHOST_KEY_ECDSA_256:
		return "ecdsa-sha2-nistp256";
	case LIBSSH2_KNOWNHOST_KEY_ECDSA_384:
		return "ecdsa-sha2-nistp384";
	case LIBSSH2_KNOWNHOST_KEY_ECDSA_521:
		return "ecdsa-sha2-nistp521";
	case LIBSSH2_KNOWNHOST_KEY_ED25519:
		return "ssh-ed25519";
	}
	return "an unknown type";
}

int sshc_check_host_key(LIBSSH2_SESSION *s, const char *host, int port,
			const char *known_hosts, bool accept_new, char *why, size_t whysz)
{
	size_t klen = 0;
	int ktype = 0;
	const char *key = libssh2_session_hostkey(s, &klen, &ktype);
	char name[300], sent[64], had[64];
	struct err e = {{0}};
	size_t len = 0;
	int rc = -1;

	if (!key) {
		snprintf(why, whysz, "the host sent no host key");
		return -1;
	}
	if (port == 22)
		snprintf(name, sizeof name, "%s", host);
	else
		snprintf(name, sizeof name, "[%s]:%d", host, port);
	sshc_fingerprint((const unsigned char *)key, klen, sent, sizeof sent);

	pthread_mutex_lock(&record_mu);
	char *text = NULL;
	if (access(known_hosts, F_OK) == 0 || errno != ENOENT) {
		text = fs_read_max(known_hosts, KNOWN_HOSTS_MAX, &len, &e);
		if (!text) {
			snprintf(why, whysz, "cannot read known_hosts: %s", e.msg);
			goto out;
		}
	}
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s);
	if (!kh) {
		snprintf(why, whysz, "out of memory for known_hosts");
		goto out;
	}
	if (text)
		load_lines(kh, text);
	int mask = key_mask(ktype);
	struct libssh2_knownhost *found = NULL;
	int type = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW;
	int r = libssh2_knownhost_checkp(kh, name, -1, key, klen, type | mask, &found);
	if (r == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND) {
		/* Known with a key of another type: as changed as a new key of the same type. */
		r = libssh2_knownhost_checkp(kh, name, -1, key, klen, type, &found);
		if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
			r = LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;
	}
	switch (r) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		rc = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		stored_fingerprint(found, had, sizeof had);
		if ((found->typemask & LIBSSH2_KNOWNHOST_KEY_MASK) == mask)
			snprintf(why, whysz,
				 "host key for %s changed: known_hosts has %s, the host sent %s; "
				 "if the host was re-installed, remove its line from %s",
				 name, had, sent, known_hosts);
		else
			snprintf(why, whysz,
				 "host key for %s changed: known_hosts has %s (%s), the host sent "
				 "%s (%s); if the host was re-installed, remove its line from %s",
				 name, had, type_name(found->typemask & LIBSSH2_KNOWNHOST_KEY_MASK),
				 sent, type_name(mask), known_hosts);
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		if (!accept_new) {
			char scan[64] = "";
			if (port != 22)
				snprintf(scan, sizeof scan, " -p %d", port);
			snprintf(why, whysz,
				 "host key for %s is not known (the host sent %s; not in %s): check "
				 "the fingerprint and add it (ssh-keyscan%s %s >> %s), or set "
				 "accept_new_host_key to record it on first use",
				 name, sent, known_hosts, scan, host, known_hosts);
			break;
		}
		found = NULL;
		if (libssh2_knownhost_addc(kh, name, NULL, key, klen, NULL, 0, type | mask,
					   &found) != 0 || !found) {
			snprintf(why, whysz, "cannot record the host key of %s", name);
			break;
		}
		rc = record(kh, found, known_hosts, text ? text : "", len, why, whysz);
		break;
	default:
		snprintf(why, whysz, "cannot check the host key of %s against %s", name,
			 known_hosts);
	}
	libssh2_knownhost_free(kh);
out:
	pthread_mutex_unlock(&record_mu);
	free(text);
	return rc;
}
