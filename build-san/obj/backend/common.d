build-san/obj/backend/common.o: src/backend/common.c src/backend/common.h \
 src/internal.h include/ev.h
src/backend/common.h:
src/internal.h:
include/ev.h:
