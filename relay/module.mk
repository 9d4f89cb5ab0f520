# relay: everything about a chatmail relay that is not about Kubernetes,
# as one static library (librelay.a) linked by chatmail-operator,
# relay-render and their tests: the ChatmailRelay spec model (spec*.c:
# parse, defaults, checks, chatmail.ini), YAML/JSON conversion
# (yamljson.c), the config renderers (render/: Postfix, Dovecot, nginx,
# the Pod layout in render_target.c) and the web content (web/).
LIBRELAY := $(BUILD)/lib/librelay.a
LIBRELAY_SRCS := $(sort $(wildcard relay/*.c relay/render/*.c relay/web/*.c))
LIBRELAY_LDLIBS = $(shell $(PKG_CONFIG) --libs yaml-0.1 libqrencode)
