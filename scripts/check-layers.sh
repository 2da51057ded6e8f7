#!/bin/sh
# Checks the direction of data flow through the includes (STYLE.md rule 1, docs/ARCHITECTURE.md):
#   lib/       the base layer: includes only lib/ headers; no libpq, libmicrohttpd or libuv
#   rules/     pure: lib/ and rules/ headers only; no libpq, libmicrohttpd or libuv
#   analytics/ pure mathematics: lib/ and analytics/ headers only; no libpq, libmicrohttpd or libuv
#   db/        lib/, rules/, analytics/ and db/ headers only (nothing of server/ or handlers/); the only
#              libpq user
#   handlers/  lib/, rules/, analytics/, db/db.h (never db/internal.h), handlers/, and of server/ only the
#              request API (request.h, router.h)
#   server/    anything above but db/internal.h; no libpq
# Prints "ok - layers" or the offending lines and "not ok - layers".
cd "$(dirname "$0")/.." || exit 1

# where DIR FILE: the layer a quoted include names ("" when it is generated or unknown)
where() {
	for d in lib rules analytics db handlers server; do
		if [ -f "$d/$1" ]; then
			echo "$d"
			return
		fi
	done
}

bad=$(
	grep -n '#include <libpq-fe.h>' server/*.[ch] handlers/*.[ch] lib/*.[ch] rules/*.[ch] analytics/*.[ch] 2>/dev/null
	grep -nE '#include [<"](microhttpd|uv)\.h[>"]' lib/*.[ch] rules/*.[ch] analytics/*.[ch] db/*.[ch] handlers/*.[ch] 2>/dev/null
	grep -nE '#include [<"](libpq-fe|microhttpd|uv|libpq/[^>"]*|postgres[^>"]*)\.h[>"]' rules/*.[ch] analytics/*.[ch] 2>/dev/null
	for f in lib/*.[ch] rules/*.[ch] analytics/*.[ch] db/*.[ch] handlers/*.[ch] server/*.[ch]; do
		[ -f "$f" ] || continue
		layer=${f%%/*}
		grep -n '^#include "' "$f" | while IFS= read -r line; do
			inc=$(echo "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
			home=$(where "$inc")
			[ -z "$home" ] && continue # generated (version.h)
			ok=1
			case $layer:$home:$inc in
			lib:lib:*) ;;
			lib:*) ok=0 ;;
			rules:lib:* | rules:rules:*) ;;
			rules:*) ok=0 ;;
			analytics:lib:* | analytics:analytics:*) ;;
			analytics:*) ok=0 ;;
			db:lib:* | db:rules:* | db:analytics:* | db:db:*) ;;
			db:*) ok=0 ;;
			handlers:db:internal.h) ok=0 ;;
			handlers:lib:* | handlers:rules:* | handlers:analytics:* | handlers:db:* | handlers:handlers:*) ;;
			handlers:server:request.h | handlers:server:router.h) ;;
			handlers:*) ok=0 ;;
			server:db:internal.h) ok=0 ;;
			esac
			[ "$ok" = 1 ] || echo "$f:$line ($layer/ may not include $home/$inc)"
		done
	done
)
if [ -n "$bad" ]; then
	echo "$bad" | sed 's/^/# /'
	echo "not ok - layers"
	exit 1
fi
echo "ok - layers"
