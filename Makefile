# The C library: build it and install it where pkg-config finds it.
#
#   make install PREFIX=/usr/local          # or PREFIX=$HOME/.local, DESTDIR=... for packaging
#   cc app.c $(pkg-config --cflags --libs indextts)
#
# Installs libindextts.so.VERSION with its soname link and dev link, libindextts.a,
# include/indextts.h and indextts.hpp, and lib/pkgconfig/indextts.pc. FEATURES=redis builds
# the library with the Redis cache level.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=
CARGO ?= cargo
FEATURES ?=

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))
SONAME := libindextts.so.$(if $(filter 0,$(MAJOR)),0.$(MINOR),$(MAJOR))

.PHONY: lib install uninstall

lib:
	$(CARGO) build --release --locked --lib $(if $(FEATURES),--features $(FEATURES))

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 target/release/libindextts.so $(DESTDIR)$(LIBDIR)/libindextts.so.$(VERSION)
	ln -sf libindextts.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libindextts.so
	install -m 0644 target/release/libindextts.a $(DESTDIR)$(LIBDIR)/libindextts.a
	install -m 0644 include/indextts.h include/indextts.hpp $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    indextts.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/indextts.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libindextts.so* $(DESTDIR)$(LIBDIR)/libindextts.a \
	    $(DESTDIR)$(INCLUDEDIR)/indextts.h $(DESTDIR)$(INCLUDEDIR)/indextts.hpp \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/indextts.pc
