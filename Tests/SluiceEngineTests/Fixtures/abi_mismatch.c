/* A library that claims the next ABI major: the host must refuse it without reading further. */
#include <sluice_plugin.h>

static const sluice_library FUTURE = {sizeof(sluice_library), SLUICE_ABI_MAJOR + 1, 3, 0, NULL};
SLUICE_EXPORT const sluice_library *sluice_plugin_entry(void) { return &FUTURE; }
