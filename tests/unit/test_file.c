/*
 * test_file.c - core/file.c: atomic replacement (parts concatenated, no
 * temporary file left behind, the old file kept on failure), whole-file
 * reads (size limit, empty files, missing files, directories), the shared
 * end of encode-then-save, and clean out-of-memory failures.
 */
#include "testutil.h"

#include "core/file.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Number of entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void expect_contents(const char *path, const char *want)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    trove_error err;
    assert_int_equal(trove__file_read_all(path, 1u << 20, &buf, &len, &err), TROVE_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
    assert_int_equal(buf[len], 0);
    trove_free(buf);
}

static void test_write_atomic(void **state)
{
    (void)state;
    char dir[4096];
    const char *path = testutil_tmp_path("atomic.bin");
    const void *parts[3] = {"head,", NULL, "tail"};
    size_t lens[3] = {5, 0, 4};
    trove_error err;
    snprintf(dir, sizeof dir, "%s", testutil_tmp_path(""));
    dir[strlen(dir) - 1] = '\0';

    assert_int_equal(trove__file_write_atomic(path, parts, lens, 3, &err), TROVE_OK);
    expect_contents(path, "head,tail");
    /* replace in place */
    lens[0] = 2;
    assert_int_equal(trove__file_write_atomic(path, parts, lens, 3, &err), TROVE_OK);
    expect_contents(path, "hetail");
    assert_int_equal(count_prefixed(dir, "atomic.bin.tmp"), 0);
    /* a zero-part write makes an empty file */
    assert_int_equal(trove__file_write_atomic(path, NULL, NULL, 0, &err), TROVE_OK);
    expect_contents(path, "");
    {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true((st.st_mode & 0444) != 0);
    }
    /* a directory that does not exist: EIO naming the path */
    assert_int_equal(trove__file_write_atomic("/nonexistent-dir/x.bin", parts, lens, 3, &err),
                     TROVE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.bin"));
    /* the target is a directory: the rename fails, the temporary goes */
    {
        const char *sub = testutil_tmp_path("atomic-dir");
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(trove__file_write_atomic(sub, parts, lens, 3, &err), TROVE_EIO);
        assert_non_null(strstr(err.msg, "atomic-dir"));
        assert_int_equal(count_prefixed(dir, "atomic-dir.tmp"), 0);
        assert_int_equal(rmdir(sub), 0);
    }
}

static void test_commit_tmp(void **state)
{
    (void)state;
    const char *path = testutil_tmp_path("commit.txt");
    char *tmp = NULL;
    int fd = -1;
    trove_error err;
    assert_int_equal(testutil_write_file(path, "old"), 0);
    assert_int_equal(trove__file_open_tmp(path, &tmp, &fd, &err), TROVE_OK);
    assert_non_null(strstr(tmp, "commit.txt.tmp."));
    assert_int_equal(write(fd, "new", 3), 3);
    assert_int_equal(close(fd), 0);
    expect_contents(path, "old");
    assert_int_equal(trove__file_commit_tmp(tmp, path, &err), TROVE_OK);
    expect_contents(path, "new");
    /* committing a temporary that is gone fails and keeps the target */
    assert_int_equal(trove__file_commit_tmp(tmp, path, &err), TROVE_EIO);
    assert_non_null(strstr(err.msg, "commit.txt"));
    expect_contents(path, "new");
    trove_free(tmp);
}

static void test_save_encoded(void **state)
{
    (void)state;
    const char *path = testutil_tmp_path("encoded.bin");
    unsigned char *buf = trove_malloc(3);
    trove_error err;
    assert_non_null(buf);
    memcpy(buf, "abc", 3);
    assert_int_equal(trove__file_save_encoded(path, TROVE_OK, buf, 3, &err), TROVE_OK);
    expect_contents(path, "abc");
    /* a failed encoding: nothing written, the message gains the path */
    buf = trove_malloc(3);
    assert_non_null(buf);
    trove_error_set(&err, TROVE_ENOMEM, "out of memory encoding");
    assert_int_equal(trove__file_save_encoded(path, TROVE_ENOMEM, buf, 0, &err), TROVE_ENOMEM);
    assert_non_null(strstr(err.msg, "encoded.bin: out of memory encoding"));
    expect_contents(path, "abc");
    assert_int_equal(trove__file_save_encoded(path, TROVE_EINVAL, NULL, 0, NULL), TROVE_EINVAL);
}

static void test_read_all_errors(void **state)
{
    (void)state;
    const char *path = testutil_tmp_path("read.txt");
    unsigned char *buf = (unsigned char *)"untouched";
    size_t len = 12345;
    trove_error err;
    assert_int_equal(testutil_write_file(path, "0123456789"), 0);
    assert_int_equal(trove__file_read_all(path, 9, &buf, &len, &err), TROVE_ERANGE);
    assert_non_null(strstr(err.msg, "read.txt"));
    assert_int_equal(trove__file_read_all(testutil_tmp_path("missing.txt"), 100, &buf, &len,
                                          &err),
                     TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "missing.txt"));
    assert_int_equal(trove__file_read_all("/", 100, &buf, &len, &err), TROVE_EIO);
    /* out-params untouched on failure */
    assert_string_equal((const char *)buf, "untouched");
    assert_int_equal(len, 12345);
    assert_int_equal(trove__file_read_all(path, 10, &buf, &len, NULL), TROVE_OK);
    assert_int_equal(len, 10);
    assert_memory_equal(buf, "0123456789", 10);
    trove_free(buf);
}

static void test_file_oom(void **state)
{
    (void)state;
    const char *path = testutil_tmp_path("oom.bin");
    const void *parts[1] = {"payload"};
    size_t lens[1] = {7};
    char dir[4096];
    int ok = 0;
    snprintf(dir, sizeof dir, "%s", testutil_tmp_path(""));
    dir[strlen(dir) - 1] = '\0';
    for (long k = 0; k < 16 && !ok; k++) {
        trove_error err;
        int rc;
        testutil_fail_alloc_after(k);
        rc = trove__file_write_atomic(path, parts, lens, 1, &err);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        ok = rc == TROVE_OK;
        assert_int_equal(count_prefixed(dir, "oom.bin.tmp"), 0);
    }
    assert_true(ok);
    ok = 0;
    for (long k = 0; k < 16 && !ok; k++) {
        unsigned char *buf = NULL;
        size_t len = 0;
        trove_error err;
        int rc;
        testutil_fail_alloc_after(k);
        rc = trove__file_read_all(path, 100, &buf, &len, &err);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        if (rc == TROVE_OK) {
            assert_int_equal(len, 7);
            trove_free(buf);
            ok = 1;
        } else {
            assert_non_null(strstr(err.msg, "oom.bin"));
        }
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_atomic),
        cmocka_unit_test(test_commit_tmp),
        cmocka_unit_test(test_save_encoded),
        cmocka_unit_test(test_read_all_errors),
        cmocka_unit_test(test_file_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
