build-san/obj/signal.o: src/signal.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
