build-san/obj/backend/select.o: src/backend/select.c src/internal.h \
 include/ev.h src/backend/common.h
src/internal.h:
include/ev.h:
src/backend/common.h:
