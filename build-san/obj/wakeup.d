build-san/obj/wakeup.o: src/wakeup.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
