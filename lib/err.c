/* Tables generated from SEG_ERR_MAP; see err.h. */
#include "err.h"

static const struct {
	int status;
	const char *slug;
	const char *title;
	const char *detail;
} seg__errs[] = {
#define XX(name, status, slug, title, detail) {status, slug, title, detail},
	SEG_ERR_MAP(XX)
#undef XX
};

static enum seg_err seg__clamp(enum seg_err err)
{
	return (unsigned)err < SEG_ERR__COUNT ? err : SEG_ERR_INTERNAL;
}

int seg_err_status(enum seg_err err)
{
	return seg__errs[seg__clamp(err)].status;
}

const char *seg_err_slug(enum seg_err err)
{
	return seg__errs[seg__clamp(err)].slug;
}

const char *seg_err_title(enum seg_err err)
{
	return seg__errs[seg__clamp(err)].title;
}

const char *seg_err_detail(enum seg_err err)
{
	return seg__errs[seg__clamp(err)].detail;
}

int seg_err_transient(enum seg_err err)
{
	return seg_err_status(err) == 503;
}
