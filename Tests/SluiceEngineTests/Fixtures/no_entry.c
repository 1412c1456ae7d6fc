/* A shared library with no sluice_plugin_entry symbol. */
int not_a_plugin(int x) { return x + 1; }
