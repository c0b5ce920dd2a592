/* load/score_report.c: a score result as JSON (for tools and the history) and as one HTML page:
 * the score, its parts, and per phase goodput per second against the offered users (inline SVG). */
#include "score.h"

#include <string.h>

#include "stats.h"
#include "svg.h"

int score_write_json(FILE *f, const score_result_t *r)
{
    fputs("{\"target\":", f);
    load_json_str(f, r->target);
    fputs(",\"service\":", f);
    load_json_str(f, r->service);
    fprintf(f,
            ",\"capacity\":%.6g,\"probe_capacity\":%.6g,\"capacity_measured\":%s,"
            "\"duration_s\":%.3f,\"score\":%.2f",
            r->capacity, r->probe_capacity, r->capacity_measured ? "true" : "false", r->duration_s,
            r->score);
    fputs(",\"parts\":[", f);
    for (size_t i = 0; i < r->n_parts; i++) {
        const score_part_t *p = &r->parts[i];
        fprintf(f, "%s{\"name\":", i ? "," : "");
        load_json_str(f, p->name);
        fprintf(f, ",\"points\":%.3f,\"max\":%.0f,\"figure\":", p->points, p->max);
        load_json_str(f, p->figure);
        fputs(",\"advice\":", f);
        load_json_str(f, p->advice);
        fputc('}', f);
    }
    fputs("],\"phases\":[", f);
    for (size_t i = 0; i < r->n_phases; i++) {
        const score_phase_t *ph = &r->phases[i];
        fprintf(f, "%s{\"name\":", i ? "," : "");
        load_json_str(f, ph->name);
        fputs(",\"fault\":", f);
        load_json_str(f, ph->fault);
        fprintf(f,
                ",\"rate\":%.6g,\"secs\":%.6g,\"fault_secs\":%.6g,\"offered\":%.0f,"
                "\"requests\":%.0f,\"good\":%.0f,\"refused\":%.0f,\"errors\":%.0f,"
                "\"goodput_per_s\":%.6g,\"p99_ms\":%.6g,\"stale\":%.0f,\"fallback\":%.0f,"
                "\"wait_pages\":%.0f,\"goodput_by_second\":[",
                ph->rate, ph->secs, ph->fault_secs, ph->offered, ph->requests, ph->good, ph->polite,
                ph->errors, ph->goodput_per_s, ph->p99_ms, ph->stale, ph->fallback, ph->wait_pages);
        for (size_t s = 0; s < ph->n_sec; s++)
            fprintf(f, "%s%.0f", s ? "," : "", ph->sec_goodput[s]);
        fputs("]}", f);
    }
    fputs("]}\n", f);
    return ferror(f) ? -1 : 0;
}

/* One phase: goodput per second (line) against the offered rate and the capacity (dashed), the
 * fault's window shaded. Every chart shares the y axis (0 to 1.2 x the highest offered rate is
 * too flat at 5x: 0 to the larger of capacity x 1.25 and the phase's best second). */
static void phase_svg(FILE *f, const score_result_t *r, const score_phase_t *ph, double ymax)
{
    const double W = 360, H = 150, L = 44, B = 24, T = 10, R = 8;
    double pw = W - L - R, phh = H - T - B;
    double xmax = ph->n_sec > 1 ? (double)ph->n_sec : 1;
    fprintf(f,
            "<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
            "aria-label=\"goodput per second, phase ",
            W, H, W, H);
    load_html_text(f, ph->name);
    fputs("\">", f);
    if (ph->fault_secs > 0)
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fde2e1\"/>",
                L, T, pw * (ph->fault_secs < xmax ? ph->fault_secs : xmax) / xmax, phh);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", L,
            T + phh, L + pw, T + phh);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", L, T, L,
            T + phh);
    for (int k = 0; k <= 2; k++) {
        double v = ymax * k / 2, y = T + phh - phh * k / 2;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.0f</text>",
                L - 4, y + 3, v);
    }
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">seconds "
            "(0-%.0f)</text>",
            L + pw / 2, H - 6, xmax);
    double cy = T + phh - phh * (r->capacity / ymax);
    if (r->capacity > 0 && r->capacity <= ymax)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                "stroke-dasharray=\"4 3\"/>",
                L, cy, L + pw, cy);
    double oy = T + phh - phh * (ph->rate < ymax ? ph->rate : ymax) / ymax;
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c77c02\" "
            "stroke-width=\"1.5\"/>",
            L, oy, L + pw * (ph->secs < xmax ? ph->secs : xmax) / xmax, oy);
    fputs("<polyline fill=\"none\" stroke=\"#1b6ac9\" stroke-width=\"2\" points=\"", f);
    for (size_t s = 0; s < ph->n_sec; s++) {
        double v = ph->sec_goodput[s] < ymax ? ph->sec_goodput[s] : ymax;
        fprintf(f, "%.1f,%.1f ", L + pw * ((double)s + 0.5) / xmax, T + phh - phh * v / ymax);
    }
    fputs("\"/></svg>", f);
}

int score_write_html(FILE *f, const score_result_t *r)
{
    fputs("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
          "<title>levee resilience score</title><style>"
          "body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:1100px;"
          "padding:0 1rem;color:#111}table{border-collapse:collapse;margin:1rem 0}"
          "td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;"
          "vertical-align:top}.score{font-size:2.6rem;font-weight:700}"
          ".phases{display:flex;flex-wrap:wrap;gap:1rem}.phase{border:1px solid #ddd;"
          "padding:.5rem;width:360px}.key "
          "span{display:inline-block;margin-right:1rem}</style></head><body>",
          f);
    fputs("<h1>levee resilience score</h1><p class=\"score\" id=\"score\">", f);
    fprintf(f, "%.0f / 100</p><p>Target ", r->score);
    load_html_text(f, r->target);
    fputs(", service <b>", f);
    load_html_text(f, r->service);
    fprintf(f, "</b>; capacity %.0f requests/s (%s); battery %.0f s.</p>", r->capacity,
            r->capacity_measured ? "measured by the probe" : "given", r->duration_s);
    fputs("<table id=\"parts\"><thead><tr><th>part</th><th>points</th><th>measured</th>"
          "<th>what would raise it</th></tr></thead><tbody>",
          f);
    for (size_t i = 0; i < r->n_parts; i++) {
        const score_part_t *p = &r->parts[i];
        fputs("<tr><td>", f);
        load_html_text(f, p->name);
        if (p->max > 0)
            fprintf(f, "</td><td>%.1f / %.0f</td><td>", p->points, p->max);
        else
            fputs("</td><td>n/a</td><td>", f);
        load_html_text(f, p->figure);
        fputs("</td><td>", f);
        load_html_text(f, p->advice);
        fputs("</td></tr>", f);
    }
    fputs("</tbody></table><h2>Phases</h2><p class=\"key\"><span style=\"color:#1b6ac9\">"
          "&#9644; goodput per second</span><span style=\"color:#c77c02\">&#9644; users offered "
          "per second</span><span style=\"color:#888\">- - capacity</span><span "
          "style=\"background:#fde2e1\">fault in force</span></p><div class=\"phases\">",
          f);
    double ymax = r->capacity > 0 ? r->capacity * 1.25 : 1;
    for (size_t i = 0; i < r->n_phases; i++)
        for (size_t s = 0; s < r->phases[i].n_sec; s++)
            if (r->phases[i].sec_goodput[s] > ymax)
                ymax = r->phases[i].sec_goodput[s];
    for (size_t i = 0; i < r->n_phases; i++) {
        const score_phase_t *ph = &r->phases[i];
        fputs("<div class=\"phase\"><h3>", f);
        load_html_text(f, ph->name);
        fprintf(f, "</h3><p>%.0f users/s for %.0f s", ph->rate, ph->secs);
        if (ph->fault[0]) {
            fputs(", fault <code>", f);
            load_html_text(f, ph->fault);
            fputs("</code>", f);
        }
        fprintf(f,
                "<br>goodput %.1f/s, p99 %.0f ms; answered %.0f, refused %.0f, errors %.0f "
                "(stale %.0f, fallback %.0f)</p>",
                ph->goodput_per_s, ph->p99_ms, ph->good, ph->polite, ph->errors, ph->stale,
                ph->fallback);
        phase_svg(f, r, ph, ymax);
        fputs("</div>", f);
    }
    fputs("</div><p>How the score is made: docs/score.md.</p></body></html>\n", f);
    return ferror(f) ? -1 : 0;
}
