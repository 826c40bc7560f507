/* journal.c — see journal.h. */
#include "hypotop/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"

static int header_parse(const char *line, size_t len, const char *path, uint64_t *base,
			struct err *e)
{
	cJSON *h = cJSON_ParseWithLength(line, len);
	long version = 0, b = 0;

	if (!h || json_get_int(h, "journal", path, 1, 1, &version, e) != 1 ||
	    json_get_int(h, "base", path, 0, JOURNAL_SEQ_MAX, &b, e) != 1) {
		cJSON_Delete(h);
		err_set(e, "%s:1: the first line must be {\"journal\":1,\"base\":N}", path);
		return -1;
	}
	cJSON_Delete(h);
	*base = (uint64_t)b;
	return 0;
}

int journal_replay(const char *path, journal_fn fn, void *ctx, struct journal_info *info,
		   struct err *e)
{
	size_t len;
	char *text;

	memset(info, 0, sizeof *info);
	if (!fs_exists(path)) {
		info->no_header = true;
		return 0;
	}
	text = fs_read(path, &len, e);
	if (!text)
		return -1;
	info->no_header = len == 0;
	size_t pos = 0;
	int line = 0;
	while (pos < len) {
		char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		bool last = !nl || end + 1 >= len;
		line++;
		if (line == 1) {
			if (!nl) {
				/* Never written so: the header is replaced whole. */
				info->no_header = true;
				break;
			}
			if (header_parse(text, end, path, &info->base, e) < 0) {
				info->bad_header = true;
				goto fail;
			}
			info->good_len = end + 1;
			pos = end + 1;
			continue;
		}
		cJSON *ev = nl ? cJSON_ParseWithLength(text + pos, end - pos) : NULL;
		if (!ev || !cJSON_IsObject(ev)) {
			cJSON_Delete(ev);
			if (last) {
				info->torn_line = line;
				info->torn_bytes = len - pos;
				break;
			}
			err_set(e, "%s:%d: this line is not a JSON event but later lines are; the "
				   "journal is damaged: restore it from a backup, or remove this line, "
				   "which gives up the change it held",
				path, line);
			goto fail;
		}
		int rc = fn ? fn(ctx, ev, line, e) : 0;
		cJSON_Delete(ev);
		if (rc < 0)
			goto fail;
		info->lines++;
		info->good_len = end + 1;
		pos = end + 1;
	}
	free(text);
	return 0;
fail:
	free(text);
	return -1;
}

static char *header_line(uint64_t base)
{
	return xasprintf(JOURNAL_HEADER "\n", (unsigned long long)base);
}

int journal_open(struct journal *j, const char *path, const struct journal_info *info,
		 struct err *e)
{
	memset(j, 0, sizeof *j);
	j->fd = -1;
	j->path = xstrdup(path);
	buf_init(&j->pending);
	j->base = info->base;
	j->lines = info->lines;
	if (!fs_exists(path) || info->good_len == 0)
		return journal_reset(j, info->base, e);
	j->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (j->fd < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		return -1;
	}
	j->size = (off_t)info->good_len;
	if (info->torn_line) {
		if (ftruncate(j->fd, j->size) < 0 || fdatasync(j->fd) < 0) {
			err_set(e, "%s: cannot cut the torn last line: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

void journal_close(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	free(j->path);
	j->path = NULL;
	buf_free(&j->pending);
}

void journal_append_light(struct journal *j, const char *line, size_t len)
{
	buf_add(&j->pending, line, len);
	buf_addc(&j->pending, '\n');
	j->pending_lines++;
}

void journal_append(struct journal *j, const char *line, size_t len)
{
	journal_append_light(j, line, len);
	j->want_sync = true;
}

int journal_write(struct journal *j, struct err *e)
{
	const char *p = j->pending.data;
	size_t left = j->pending.len;

	if (!j->pending_lines)
		return 0;
	if (j->fd < 0) {
		err_set(e, "%s: not open for writing after an earlier failure", j->path);
		return -1;
	}
	while (left) {
		ssize_t n = write(j->fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			/* Part of the lines may be in the file: cut it back to its
			 * last whole line, so that another try neither tears nor
			 * repeats one. */
			if (ftruncate(j->fd, j->size) < 0) {
				err_set(e, "%s: write: %s, and cannot cut the part written: %s; "
					   "free some space, then run hypotop again",
					j->path, strerror(err), strerror(errno));
				close(j->fd);
				j->fd = -1;
				return -1;
			}
			err_set(e, "%s: write: %s%s", j->path, strerror(err), fs_full_hint(err));
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	j->size += (off_t)j->pending.len;
	j->lines += j->pending_lines;
	j->pending_lines = 0;
	buf_reset(&j->pending);
	return 0;
}

int journal_commit(struct journal *j, struct err *e)
{
	if (journal_write(j, e) < 0)
		return -1;
	if (j->want_sync && fdatasync(j->fd) < 0) {
		err_set(e, "%s: fdatasync: %s", j->path, strerror(errno));
		return -1;
	}
	j->want_sync = false;
	return 0;
}

int journal_reset(struct journal *j, uint64_t base, struct err *e)
{
	char *h = header_line(base);
	size_t len = strlen(h);
	int rc = fs_write_atomic(j->path, h, len, 0644, e);

	free(h);
	if (rc < 0)
		return -1;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (j->fd < 0) {
		err_set(e, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	j->base = base;
	j->lines = 0;
	j->size = (off_t)len;
	j->want_sync = false;
	/* What was queued is in the checkpoint the new journal continues from. */
	buf_reset(&j->pending);
	j->pending_lines = 0;
	return 0;
}
