/* The wrappers are static inline in include/sluice_sqlite.h; a C target needs a source. */
#include "sluice_sqlite.h"
