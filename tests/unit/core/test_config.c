/*
 * Configuration: precedence (flag > env > file > default), validation of
 * ranges and unknown keys, and petrel.conf.example naming every key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#ifndef PETREL_SOURCE_DIR
#define PETREL_SOURCE_DIR "."
#endif

static char err[512];

static void test_defaults(void **st)
{
    (void)st;
    config_t c;
    config_defaults(&c);
    assert_string_equal(c.tcp_listen, "0.0.0.0:9000");
    assert_string_equal(c.http_listen, "0.0.0.0:8080");
    assert_int_equal(c.app_id, 10000);
    assert_int_equal(c.login_policy, 3);
    assert_int_equal(c.max_body, 65536);
    assert_int_equal(c.max_imei, 128);
    assert_int_equal(c.explicit_mask, 0);
}

static void test_flags_and_validation(void **st)
{
    (void)st;
    config_t c;
    config_defaults(&c);
    char *argv[] = {"petreld", "--tcp-listen=127.0.0.1:1", "--login_policy", "1",
                    "--app-secret=s3", NULL};
    assert_int_equal(config_load(&c, 5, argv, err, sizeof err), 0);
    assert_string_equal(c.tcp_listen, "127.0.0.1:1");
    assert_int_equal(c.login_policy, 1);
    assert_string_equal(c.app_secret, "s3");
    assert_true(c.explicit_mask & CONFIG_SET_LOGIN_POLICY);
    assert_true(c.explicit_mask & CONFIG_SET_APP_SECRET);

    assert_int_equal(config_set(&c, "login_policy", "5", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "max_body", "12x", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "no_such_key", "1", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "legacy-unsigned-login", "yes", err, sizeof err), 0);
    assert_int_equal(c.legacy_unsigned_login, 1);
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(config_set(&c, "data_dir", big, err, sizeof err), -1);

    char *bad[] = {"petreld", "positional", NULL};
    config_defaults(&c);
    assert_int_equal(config_load(&c, 2, bad, err, sizeof err), -1);
    char *badlvl[] = {"petreld", "--log-level=loud", NULL};
    config_defaults(&c);
    assert_int_equal(config_load(&c, 2, badlvl, err, sizeof err), -1);
}

static void test_precedence(void **st)
{
    (void)st;
    char path[] = "/tmp/petrel-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# comment\nworkers = 3\nmax_body = 1000\nnode_id = 7\n"
                       "app_admin = \"root\"\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    setenv("PETREL_MAX_BODY", "2000", 1);
    setenv("PETREL_NODE_ID", "8", 1);
    char cfgflag[64];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", path);
    char *argv[] = {"petreld", cfgflag, "--node-id=9", NULL};
    config_t c;
    config_defaults(&c);
    assert_int_equal(config_load(&c, 3, argv, err, sizeof err), 0);
    assert_int_equal(c.workers, 3);     /* file */
    assert_int_equal(c.max_body, 2000); /* env over file */
    assert_int_equal(c.node_id, 9);     /* flag over env */
    assert_string_equal(c.app_admin, "root");
    unsetenv("PETREL_MAX_BODY");
    unsetenv("PETREL_NODE_ID");

    /* a bad line in the file is an error naming the line */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "workers 3\n", 10), 10);
    close(fd);
    config_defaults(&c);
    assert_int_equal(config_load(&c, 2, argv, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1:"));
    unlink(path);
}

/* Every key of the table appears as `key =` in petrel.conf.example. */
static void test_example_documents_every_key(void **st)
{
    (void)st;
    FILE *f = fopen(PETREL_SOURCE_DIR "/petrel.conf.example", "r");
    assert_non_null(f);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    size_t i = 0;
    for (const char *k; (k = config_key_name(i)); i++) {
        char pat[80];
        snprintf(pat, sizeof pat, "\n%s =", k);
        if (!strstr(text, pat))
            fail_msg("petrel.conf.example lacks key %s", k);
    }
    assert_true(i > 10);
    /* and the example parses */
    config_t c;
    config_defaults(&c);
    char flag[600];
    snprintf(flag, sizeof flag, "--config=%s/petrel.conf.example", PETREL_SOURCE_DIR);
    char *argv[] = {"petreld", flag, NULL};
    assert_int_equal(config_load(&c, 2, argv, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags_and_validation),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_example_documents_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
