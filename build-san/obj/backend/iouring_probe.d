build-san/obj/backend/iouring_probe.o: src/backend/iouring_probe.c \
 src/backend/iouring.h src/backend/../internal.h include/ev.h
src/backend/iouring.h:
src/backend/../internal.h:
include/ev.h:
