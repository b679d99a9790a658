build-san/obj/event.o: src/event.c src/internal.h include/ev.h \
 include/event.h include/ev.h
src/internal.h:
include/ev.h:
include/event.h:
include/ev.h:
