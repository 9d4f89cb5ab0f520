# dovecot/: our Dovecot 2.3 mail plugins (dovecot/README.md), shared
# objects loaded into Debian's Dovecot, so built against Debian's
# dovecot-dev of exactly the installed dovecot-core: hack/dovecot-abi.sh
# checks that before every build (a mismatch fails the build) and writes
# the package version into chatmail-dovecot-package.h, which the plugin carries.
# Not in `bins` (the builder image has no dovecot-dev): `make all`
# builds them here, images/dovecot/Containerfile in the Dovecot image.
#
#   make dovecot-plugins   $(BUILD)/dovecot/lib90_chatmail_idle_plugin.so
DOVECOT_INC ?= /usr/include/dovecot
DOVECOT_PLUGIN_NAMES := chatmail_idle
DOVECOT_PLUGINS := $(patsubst %,$(BUILD)/dovecot/lib90_%_plugin.so,$(DOVECOT_PLUGIN_NAMES))
DOVECOT_PACKAGE_H := $(BUILD)/dovecot/chatmail-dovecot-package.h
# Dovecot's headers use GNU C (typeof, statement expressions), so gnu11
# and no -Wpedantic; -Wcast-qual and -Wshadow trip over its macros. No
# XCFLAGS: a sanitizer or coverage build of the plugin would not load
# into Debian's Dovecot.
DOVECOT_CFLAGS := -std=gnu11 -DHAVE_CONFIG_H -I$(DOVECOT_INC) \
	-I$(BUILD)/dovecot -fPIC -fvisibility=default \
	$(filter-out -Wpedantic -Wcast-qual -Wshadow,$(WARN)) \
	-D_FORTIFY_SOURCE=3 -fstack-protector-strong
# like Dovecot's own plugins, linked against nothing: every symbol is
# the loading process's (imap's libdovecot and libdovecot-storage)
DOVECOT_LDFLAGS := -shared -Wl,-z,relro,-z,now

# the check runs every time; the header changes only with the package
.PHONY: dovecot-plugins dovecot-abi
dovecot-abi:
	@hack/dovecot-abi.sh $(DOVECOT_PACKAGE_H)
$(DOVECOT_PACKAGE_H): dovecot-abi
	@:

$(BUILD)/dovecot/lib90_%_plugin.so: dovecot/%_plugin.c $(DOVECOT_PACKAGE_H)
	@mkdir -p $(@D)
	$(CC) $(DOVECOT_CFLAGS) $(CFLAGS) -MMD -MP -c -o $(@:.so=.o) $<
	$(CC) $(DOVECOT_LDFLAGS) -o $@ $(@:.so=.o)

dovecot-plugins: $(DOVECOT_PLUGINS)
