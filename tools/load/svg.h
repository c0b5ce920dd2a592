/* load/svg.h: line and point charts as inline SVG, and HTML text escaping, for levee-load's
 * self-contained pages (the run report, the history page). Offline; allocates nothing. */
#ifndef LOAD_SVG_H
#define LOAD_SVG_H

#include <stddef.h>
#include <stdio.h>

typedef enum { LOAD_DRAW_LINE, LOAD_DRAW_LINE_POINTS, LOAD_DRAW_POINTS } load_draw_t;

typedef struct load_series {
    const char *name;
    const char *color;
    size_t n;
    const double *x, *y; /* y < 0 or not finite: no value (the line breaks there) */
    int dashed;
    load_draw_t draw;
    const char *const *tips; /* NULL, or one tooltip per point (NULL entries: none) */
} load_series_t;

typedef struct load_chart {
    const char *cls; /* class of the <figure> (tests find the charts by it) */
    const char *title, *xlabel, *ylabel;
    double xmax;     /* > 0: the x axis reaches at least this (a run's length) */
    double ymax;     /* > 0: the y axis reaches at least this (shared by charts to compare) */
    int x_from_data; /* the x axis starts at the data's lowest x (rounded), not at 0 */
    /* NULL: ticks as numbers; else writes the label of tick x (ticks are step apart). */
    void (*xtick)(double x, double step, char *buf, size_t size);
} load_chart_t;

/* Writes s with <, >, & and " escaped. */
void load_html_text(FILE *f, const char *s);

/* Writes one <figure> with an SVG chart: grid, ticks, axis labels, a legend, the series. */
void load_svg_chart(FILE *f, const load_chart_t *c, const load_series_t *ser, size_t nser);

#endif
