build-san/obj/backend/iouring_poll.o: src/backend/iouring_poll.c \
 src/backend/iouring.h src/backend/../internal.h include/ev.h \
 src/backend/common.h src/internal.h
src/backend/iouring.h:
src/backend/../internal.h:
include/ev.h:
src/backend/common.h:
src/internal.h:
