#!/bin/sh
# Checks the direction of data flow through the includes (STYLE.md rule 1):
# - only db/ includes libpq-fe.h (and so holds SQL);
# - lib/ is pure: no libpq, libmicrohttpd or libuv, and nothing of server/, handlers/, db/;
# - handlers/ reach the database only through db/db.h, never db/internal.h;
# - db/ includes nothing of server/ or handlers/.
# Prints "ok - layers" or the offending lines and "not ok - layers".
cd "$(dirname "$0")/.." || exit 1
bad=$(
	grep -n '#include <libpq-fe.h>' server/*.[ch] handlers/*.[ch] lib/*.[ch] 2>/dev/null
	grep -nE '#include [<"](microhttpd|uv|libpq-fe)\.h[>"]' lib/*.[ch] 2>/dev/null
	grep -nE '#include "(request|router|server|http|db|internal|handlers)\.h"' lib/*.[ch] 2>/dev/null
	grep -n '#include "internal.h"' server/*.[ch] handlers/*.[ch] 2>/dev/null
	grep -nE '#include "(request|router|server|http|auth|config|metrics|ratelimit|handlers)\.h"' db/*.[ch] 2>/dev/null
)
if [ -n "$bad" ]; then
	echo "$bad" | sed 's/^/# /'
	echo "not ok - layers"
	exit 1
fi
echo "ok - layers"
