/*
 * The segmentd command line (SPEC §7): serve, migrate, keys create|list|revoke, version,
 * help. Configuration comes from the environment and from flags placed after the command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "server.h"
#include "version.h"

static void seg__usage(FILE *out)
{
	struct seg_buf b = SEG_BUF_INIT;
	seg_config_usage(&b);
	fprintf(out,
		"usage: segmentd COMMAND [FLAGS]\n\n"
		"commands:\n"
		"  serve                         apply pending migrations, then serve HTTP\n"
		"  migrate                       apply pending migrations and exit\n"
		"  keys create --tenant NAME --scopes read,write,admin\n"
		"                                create an API key (and the tenant if new);\n"
		"                                the key is printed on the last line\n"
		"  keys list                     list API keys (never the keys themselves)\n"
		"  keys revoke ID                revoke an API key\n"
		"  version                       print the version\n"
		"  help                          print this help\n\n"
		"flags (each overrides its environment variable):\n%s",
		b.data);
	seg_buf_release(&b);
}

/* Borrows one connection for a command-line tool. */
static struct seg_db *seg__connect(const struct seg_config *c, struct seg_pool **pool)
{
	struct seg_pool_config pc = {
		.conninfo = c->database_url,
		.size = 1,
		.statement_timeout_ms = c->statement_timeout_ms,
		.acquire_timeout_ms = 5000,
	};
	struct seg_db *db = NULL;
	*pool = seg_pool_new(&pc);
	if (seg_pool_acquire(*pool, &db) != SEG_OK) {
		fprintf(stderr, "segmentd: could not connect to the database\n");
		seg_pool_free(*pool);
		*pool = NULL;
	}
	return db;
}

static int seg__cmd_migrate(const struct seg_config *c)
{
	struct seg_pool *pool;
	struct seg_db *db = seg__connect(c, &pool);
	int applied = 0;
	if (!db)
		return 1;
	enum seg_err err = seg_db_migrate(db, &applied);
	seg_pool_release(pool, db);
	seg_pool_free(pool);
	if (err) {
		fprintf(stderr, "segmentd: migration failed\n");
		return 1;
	}
	printf("applied %d migration%s\n", applied, applied == 1 ? "" : "s");
	return 0;
}

static int seg__cmd_keys(const struct seg_config *c, int argc, char **argv)
{
	struct seg_pool *pool = NULL;
	struct seg_db *db = NULL;
	int status = 1;
	enum seg_err err;

	if (argc < 1) {
		fprintf(stderr, "segmentd: keys needs create, list or revoke\n");
		return 2;
	}
	if (strcmp(argv[0], "create") == 0) {
		const char *tenant = NULL, *scopes_text = "read,write";
		unsigned scopes;
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
				tenant = argv[++i];
			else if (strncmp(argv[i], "--tenant=", 9) == 0)
				tenant = argv[i] + 9;
			else if (strcmp(argv[i], "--scopes") == 0 && i + 1 < argc)
				scopes_text = argv[++i];
			else if (strncmp(argv[i], "--scopes=", 9) == 0)
				scopes_text = argv[i] + 9;
			else {
				fprintf(stderr, "segmentd: keys create: unknown argument \"%s\"\n",
					argv[i]);
				return 2;
			}
		}
		if (!tenant || !*tenant) {
			fprintf(stderr, "segmentd: keys create needs --tenant NAME\n");
			return 2;
		}
		if (!seg_auth_parse_scopes(scopes_text, &scopes)) {
			fprintf(stderr, "segmentd: --scopes takes read, write and admin, "
					"comma-separated\n");
			return 2;
		}
		char key[SEG_KEY_TEXT], prefix[SEG_KEY_PREFIX_LEN + 1];
		unsigned char hash[SEG_KEY_HASH_LEN];
		int64_t tid, kid;
		if (seg_auth_make_key(key, prefix, hash) != SEG_OK) {
			fprintf(stderr, "segmentd: could not read random bytes\n");
			return 1;
		}
		if (!(db = seg__connect(c, &pool)))
			return 1;
		err = seg_db_migrate(db, &(int){0});
		if (!err)
			err = seg_db_tenant_ensure(db, tenant, &tid);
		if (!err)
			err = seg_db_key_insert(db, tid, prefix, hash, scopes_text, &kid);
		if (err) {
			fprintf(stderr, "segmentd: could not create the key\n");
			goto out;
		}
		printf("created key %lld for tenant \"%s\" (prefix %s, scopes %s); it is shown "
		       "only once:\n%s\n",
		       (long long)kid, tenant, prefix, scopes_text, key);
		status = 0;
	} else if (strcmp(argv[0], "list") == 0) {
		struct seg_buf out = SEG_BUF_INIT;
		if (!(db = seg__connect(c, &pool)))
			return 1;
		err = seg_db_key_list(db, &out);
		if (!err) {
			printf("id\ttenant\tprefix\tscopes\tcreated_at\trevoked_at\n%s", out.data);
			status = 0;
		} else {
			fprintf(stderr, "segmentd: could not list keys\n");
		}
		seg_buf_release(&out);
	} else if (strcmp(argv[0], "revoke") == 0) {
		char *end;
		long long id = argc == 2 ? strtoll(argv[1], &end, 10) : 0;
		if (argc != 2 || *end || id <= 0) {
			fprintf(stderr, "segmentd: keys revoke needs one key ID (see keys list)\n");
			return 2;
		}
		if (!(db = seg__connect(c, &pool)))
			return 1;
		err = seg_db_key_revoke(db, id);
		if (err == SEG_ERR_NOT_FOUND)
			fprintf(stderr, "segmentd: no key with id %lld\n", id);
		else if (err)
			fprintf(stderr, "segmentd: could not revoke the key\n");
		else {
			printf("revoked key %lld\n", id);
			status = 0;
		}
	} else {
		fprintf(stderr, "segmentd: unknown keys command \"%s\"\n", argv[0]);
		return 2;
	}
out:
	seg_pool_release(pool, db);
	seg_pool_free(pool);
	return status;
}

int main(int argc, char **argv)
{
	struct seg_config config;
	struct seg_buf err = SEG_BUF_INIT;
	int argi = 2, status;

	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		seg__usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("segmentd %s\n", SEG_VERSION);
		return 0;
	}
	seg_config_init(&config);
	if (!seg_config_load(&config, argc, argv, &argi, &err)) {
		fprintf(stderr, "segmentd: %s\n", err.data);
		seg_buf_release(&err);
		seg_config_release(&config);
		return 2;
	}
	seg_log_setup(config.log_level, config.log_json);

	if (strcmp(argv[1], "serve") == 0 && argi == argc) {
		status = seg_serve(&config);
	} else if (strcmp(argv[1], "migrate") == 0 && argi == argc) {
		status = seg__cmd_migrate(&config);
	} else if (strcmp(argv[1], "keys") == 0) {
		status = seg__cmd_keys(&config, argc - argi, argv + argi);
	} else {
		fprintf(stderr, "segmentd: unknown command or argument \"%s\"; see segmentd help\n",
			argi < argc ? argv[argi] : argv[1]);
		status = 2;
	}
	seg_config_release(&config);
	return status;
}
