build-san/obj/child.o: src/child.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
