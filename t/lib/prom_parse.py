#!/usr/bin/python3
"""Parses a Prometheus text exposition (format 0.0.4) from stdin with
prometheus_client's parser (Debian python3-prometheus-client) and checks
what promtool's "check metrics" would: every family has HELP and TYPE,
appears once (its samples together), no series twice, counters named
*_total with values >= 0, gauges not named *_total.  Prints JSON:
{"families": {NAME: {"type", "help", "samples"}}, "series": {KEY: value},
"errors": [...]}, NAME as in the exposition's TYPE line, KEY like
'name{a="1",b="2"}' with labels sorted."""

import json
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def key(name, labels):
    inner = ','.join('%s="%s"' % (k, labels[k]) for k in sorted(labels))
    return '%s{%s}' % (name, inner) if inner else name


def main():
    text = sys.stdin.read()
    errors = []
    families = {}
    series = {}

    if text and not text.endswith('\n'):
        errors.append('no newline at the end')

    declared = re.findall(r'^# TYPE (\S+) (\S+)$', text, re.M)
    helped = set(re.findall(r'^# HELP (\S+) ', text, re.M))
    seen = set()
    for name, _ in declared:
        if name in seen:
            errors.append('TYPE of %s twice' % name)
        seen.add(name)
        if name not in helped:
            errors.append('no HELP for %s' % name)

    try:
        parsed = list(text_string_to_metric_families(text))
    except Exception as e:          # the parser's own verdict
        print(json.dumps({'families': {}, 'series': {},
                          'errors': ['parser: %s' % e]}))
        return

    for f in parsed:
        name = f.name + '_total' if f.type == 'counter' else f.name
        if name in families:
            errors.append('family %s in two places' % name)
        if f.type not in ('counter', 'gauge'):
            errors.append('family %s has type %s' % (name, f.type))
        if not f.documentation:
            errors.append('family %s has no help' % name)
        if f.type == 'gauge' and name.endswith('_total'):
            errors.append('gauge %s named *_total' % name)
        samples = []
        for s in f.samples:
            if f.type == 'counter' and s.name != name:
                errors.append('counter sample %s not %s' % (s.name, name))
            if f.type == 'counter' and s.value < 0:
                errors.append('counter %s below 0' % s.name)
            k = key(s.name, s.labels)
            if k in series:
                errors.append('series %s twice' % k)
            series[k] = s.value
            samples.append({'name': s.name, 'labels': s.labels,
                            'value': s.value})
        families[name] = {'type': f.type, 'help': f.documentation,
                          'samples': samples}

    print(json.dumps({'families': families, 'series': series,
                      'errors': errors}))


main()
