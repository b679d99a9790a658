build-san/obj/timer.o: src/timer.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
