/* load/svg.c: draws levee-load's charts as inline SVG (no script, no external asset): axes
 * with rounded ticks, a grid, a legend, lines and points, tooltips. Offline; no allocation. */
#include "svg.h"

#include <math.h>

#include "core/common.h"

void load_html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

/* 1, 2 or 5 times a power of ten, at least v. */
static double load_nice(double v)
{
    if (v <= 0 || !isfinite(v))
        return 1;
    double e = pow(10, floor(log10(v)));
    double m = v / e;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * e;
}

static int load_defined(double y)
{
    return y >= 0 && isfinite(y);
}

typedef struct load_plot {
    double L, T, pw, ph; /* plot area */
    double xmin, xmax, ymax;
} load_plot_t;

static double load_px(const load_plot_t *p, double x)
{
    return p->L + (x - p->xmin) / (p->xmax - p->xmin) * p->pw;
}

static double load_py(const load_plot_t *p, double y)
{
    return p->T + p->ph - y / p->ymax * p->ph;
}

static void load_svg_series(FILE *f, const load_plot_t *p, const load_series_t *se)
{
    const char *dash = se->dashed ? " stroke-dasharray=\"6 4\"" : "";
    /* One polyline per run of defined values. */
    int open = 0;
    for (size_t i = 0; i < se->n && se->draw != LOAD_DRAW_POINTS; i++) {
        int ok = load_defined(se->y[i]);
        if (ok && !open) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                    se->color, dash);
            open = 1;
        }
        if (ok)
            fprintf(f, "%.1f,%.1f ", load_px(p, se->x[i]), load_py(p, se->y[i]));
        if (!ok && open) {
            fputs("\"/>\n", f);
            open = 0;
        }
    }
    if (open)
        fputs("\"/>\n", f);
    if (se->draw == LOAD_DRAW_LINE)
        return;
    for (size_t i = 0; i < se->n; i++) {
        if (!load_defined(se->y[i]))
            continue;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">", load_px(p, se->x[i]),
                load_py(p, se->y[i]), se->color);
        if (se->tips && se->tips[i]) {
            fputs("<title>", f);
            load_html_text(f, se->tips[i]);
            fputs("</title>", f);
        }
        fputs("</circle>", f);
    }
    fputc('\n', f);
}

void load_svg_chart(FILE *f, const load_chart_t *c, const load_series_t *ser, size_t nser)
{
    const double W = 760, H = 300, L = 64, R = 190, T = 30, B = 44;
    double xmin = INFINITY, xmax = LV_MAX(c->xmax, 0), ymax = LV_MAX(c->ymax, 0);
    for (size_t s = 0; s < nser; s++)
        for (size_t i = 0; i < ser[s].n; i++) {
            if (!load_defined(ser[s].y[i]))
                continue;
            xmin = LV_MIN(xmin, ser[s].x[i]);
            xmax = LV_MAX(xmax, ser[s].x[i]);
            ymax = LV_MAX(ymax, ser[s].y[i]);
        }
    xmin = c->x_from_data && isfinite(xmin) ? xmin : 0;
    double xstep = load_nice((xmax - xmin) / 5), ystep = load_nice(ymax / 5);
    xmin = xstep * floor(xmin / xstep);
    xmax = xstep * ceil(xmax / xstep);
    if (xmax <= xmin)
        xmax = xmin + xstep;
    ymax = ystep * ceil(ymax / ystep);
    if (ymax <= 0)
        ymax = 1;
    load_plot_t p = {L, T, W - L - R, H - T - B, xmin, xmax, ymax};
    fprintf(f,
            "<figure class=\"%s\"><svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
            "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\">\n",
            c->cls, W, H, W, H);
    fputs("<text x=\"10\" y=\"18\" class=\"title\">", f);
    load_html_text(f, c->title);
    fputs("</text>\n", f);
    for (double y = 0; y <= ymax + ystep / 2; y += ystep) {
        double py = load_py(&p, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", L, py,
                L + p.pw, py);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%g</text>\n",
                L - 4, py + 4, y);
    }
    /* Counted, not accumulated: a step of a fraction of a day must not drift. */
    long nticks = lround((xmax - xmin) / xstep);
    for (long k = 0; k <= nticks; k++) {
        double x = xmin + (double)k * xstep;
        char lab[48];
        if (c->xtick)
            c->xtick(x, xstep, lab, sizeof(lab));
        else
            snprintf(lab, sizeof(lab), "%g", x);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">",
                load_px(&p, x), T + p.ph + 16);
        load_html_text(f, lab);
        fputs("</text>", f);
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", L,
            T + p.ph, L + p.pw, T + p.ph);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n", L, T, L,
            T + p.ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"label\" text-anchor=\"middle\">", L + p.pw / 2,
            H - 6);
    load_html_text(f, c->xlabel);
    fprintf(f,
            "</text><text x=\"14\" y=\"%.1f\" class=\"label\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 14 %.1f)\">",
            T + p.ph / 2, T + p.ph / 2);
    load_html_text(f, c->ylabel);
    fputs("</text>\n", f);
    for (size_t s = 0; s < nser; s++) {
        const load_series_t *se = &ser[s];
        load_svg_series(f, &p, se);
        double lx = L + p.pw + 12, ly = T + 10 + 18 * (double)s;
        if (se->draw == LOAD_DRAW_POINTS)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>", lx + 10, ly,
                    se->color);
        else
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2\"%s/>",
                    lx, ly, lx + 20, ly, se->color, se->dashed ? " stroke-dasharray=\"6 4\"" : "");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"legend\">", lx + 24, ly + 4);
        load_html_text(f, se->name);
        fputs("</text>\n", f);
    }
    fputs("</svg></figure>\n", f);
}
