# Installing evring, two ways (included by the Makefile):
#   make install [PREFIX=/usr/local] [DESTDIR=]   copies the library, headers, libev.pc and the
#                                                 man pages under PREFIX; make uninstall removes
#                                                 exactly those files again
#   make deb                                      Debian packages in $(BUILD)/deb that replace
#                                                 libev4 and libev-dev (packaging/deb/build),
#                                                 of a library built as Debian builds its own:
#                                                 with dpkg-buildflags (stack protector,
#                                                 _FORTIFY_SOURCE, relro), in $(DEB_LIB_BUILD)
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
DEB_LIB_BUILD := $(BUILD)/deb-lib

INSTALL_HEADERS := ev.h ev++.h event.h evring.h
INSTALL_MAN3    := evring.3
INSTALL_MAN7    := evring.7
# Every file make install writes (directories are left alone: they may hold other files).
INSTALLED_FILES := $(LIBDIR)/libev.so.$(SOVER) $(LIBDIR)/libev.so.4 $(LIBDIR)/libev.so \
  $(LIBDIR)/libev.a $(LIBDIR)/pkgconfig/libev.pc $(addprefix $(INCDIR)/,$(INSTALL_HEADERS)) \
  $(addprefix $(MANDIR)/man3/,$(INSTALL_MAN3)) $(addprefix $(MANDIR)/man7/,$(INSTALL_MAN7))

# The dynamic linker's cache must learn about a new or removed libev.so.4: ldconfig runs when
# the files went to the real root as root; otherwise the user is told what to run.
define ldconfig_step
	@if [ -n "$(DESTDIR)" ]; then \
	  echo "installed under DESTDIR=$(DESTDIR): run ldconfig once the files are in $(LIBDIR)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo ldconfig; ldconfig; \
	else \
	  echo "run 'ldconfig' as root to update the dynamic linker's cache for $(LIBDIR)"; \
	fi
endef

.PHONY: install uninstall deb
install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
	  $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(BUILD)/libev.so.$(SOVER) $(BUILD)/libev.a $(DESTDIR)$(LIBDIR)/
	ln -sf libev.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libev.so.4
	ln -sf libev.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libev.so
	install -m 644 $(addprefix include/,$(INSTALL_HEADERS)) $(DESTDIR)$(INCDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	  -e 's|@VERSION@|4.33|' libev.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libev.pc
	install -m 644 $(addprefix man/,$(INSTALL_MAN3)) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(addprefix man/,$(INSTALL_MAN7)) $(DESTDIR)$(MANDIR)/man7/
	$(ldconfig_step)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	  ! ldconfig -p | grep -qF "=> $(LIBDIR)/libev.so.4"; then \
	  echo "$(LIBDIR) is not searched by the dynamic linker: add it to a file in /etc/ld.so.conf.d/ and run ldconfig"; \
	fi

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	$(ldconfig_step)

deb:
	$(MAKE) --no-print-directory BUILD=$(DEB_LIB_BUILD) OPT="$$(dpkg-buildflags --get CFLAGS)" \
	  CPPFLAGS="$$(dpkg-buildflags --get CPPFLAGS)" LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" all
	BUILD=$(DEB_LIB_BUILD) OUT=$(BUILD)/deb packaging/deb/build
