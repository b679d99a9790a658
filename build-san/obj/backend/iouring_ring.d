build-san/obj/backend/iouring_ring.o: src/backend/iouring_ring.c \
 src/backend/iouring.h src/backend/../internal.h include/ev.h \
 src/backend/common.h src/internal.h
src/backend/iouring.h:
src/backend/../internal.h:
include/ev.h:
src/backend/common.h:
src/internal.h:
