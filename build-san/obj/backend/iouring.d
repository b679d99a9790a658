build-san/obj/backend/iouring.o: src/backend/iouring.c \
 src/backend/iouring.h src/backend/../internal.h include/ev.h \
 src/backend/common.h src/internal.h
src/backend/iouring.h:
src/backend/../internal.h:
include/ev.h:
src/backend/common.h:
src/internal.h:
