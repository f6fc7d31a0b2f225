
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * main() for the fuzz targets built without libFuzzer (plain gcc, no
 * sanitizers; make builds them as build/fuzz-<target>-replay): every
 * file named, or every file of a directory named, goes once through
 * LLVMFuzzerTestOneInput().  A target that finds something wrong aborts;
 * t/031-fuzz-corpus.t replays the corpora this way.
 */


#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));


static unsigned long  replayed;


static int
replay_file(const char *path)
{
    FILE           *f;
    long            size;
    unsigned char  *data;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(path);
        fclose(f);
        return -1;
    }

    /* exactly size bytes, so that a read past them is one past a block */

    data = malloc(size ? (size_t) size : 1);
    if (data == NULL
        || (size && fread(data, 1, (size_t) size, f) != (size_t) size))
    {
        perror(path);
        free(data);
        fclose(f);
        return -1;
    }

    fclose(f);

    if (getenv("FUZZ_REPLAY_VERBOSE")) {
        fprintf(stderr, "replay: %s\n", path);
    }

    (void) LLVMFuzzerTestOneInput(data, (size_t) size);

    free(data);
    replayed++;

    return 0;
}


static int
compare(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


static int
replay_dir(const char *path)
{
    DIR            *d;
    char          **names, **more, *name;
    size_t          n, size, i;
    struct dirent  *de;
    struct stat     st;
    int             rc;

    d = opendir(path);
    if (d == NULL) {
        perror(path);
        return -1;
    }

    names = NULL;
    n = 0;
    size = 0;
    rc = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        name = malloc(strlen(path) + strlen(de->d_name) + 2);
        if (name == NULL) {
            rc = -1;
            break;
        }

        sprintf(name, "%s/%s", path, de->d_name);

        if (stat(name, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(name);
            continue;
        }

        if (n == size) {
            size = size ? 2 * size : 64;
            more = realloc(names, size * sizeof(char *));
            if (more == NULL) {
                free(name);
                rc = -1;
                break;
            }

            names = more;
        }

        names[n++] = name;
    }

    closedir(d);

    /* the same order everywhere */
    qsort(names, n, sizeof(char *), compare);

    for (i = 0; i < n; i++) {
        if (rc == 0 && replay_file(names[i]) != 0) {
            rc = -1;
        }

        free(names[i]);
    }

    free(names);

    return rc;
}


int
main(int argc, char **argv)
{
    int          i;
    struct stat  st;

    if (LLVMFuzzerInitialize) {
        LLVMFuzzerInitialize(&argc, &argv);
    }

    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 2;
        }

        if ((S_ISDIR(st.st_mode) ? replay_dir(argv[i])
                                 : replay_file(argv[i]))
            != 0)
        {
            return 2;
        }
    }

    printf("replayed %lu inputs\n", replayed);

    return 0;
}
