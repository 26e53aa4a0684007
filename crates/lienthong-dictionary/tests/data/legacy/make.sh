#!/bin/bash
# Makes the encoder-made legacy samples from unicode.txt with encoders that are not this
# project's: glibc iconv (2.36 here) and, for the five bytes Windows-1252 leaves undefined,
# ICU's uconv (72 here). Run from this folder: `bash make.sh`. The outputs are checked in, so
# the tests need neither tool.
#
#   tcvn3.tsv      legacy \t unicode   iconv -f UTF-8 -t TCVN5712-1 | iconv -f LATIN1 -t UTF-8
#   tcvn3_bytes.tsv  hex \t latin-1 \t unicode   iconv -f TCVN5712-1 of each byte A0..FF
#   mojibake.tsv   legacy \t unicode \t tool     iconv -f CP1252 -t UTF-8 (uconv -f windows-1252)
#   mojibake2.tsv  the same, twice over
#
# glibc's TCVN5712-1 is the standard's VN1 table: VN3 (TCVN3, the ABC keyboard's .VnTime
# fonts) is VN1 without its capitals that carry a tone and its combining marks, on the same
# bytes. A line iconv writes with one of those VN1-only bytes is not TCVN3 and is left out of
# tcvn3.tsv (VN3 writes such a capital with the small letter's byte; see the hand-written
# samples). VNI has no iconv table: its samples are hand-written (tests/legacy_samples.rs).
set -euo pipefail
export LC_ALL=C.UTF-8
vn1_only=$'[\x01\x02\x04-\x06\x11-\x17\x80-\x9f\xaf\xb0-\xb4\xba\xbf-\xc5\xcd\xd9-\xdb\xe0\xf0\xff]'

cp1252() {
    # UTF-8 in, each byte read as Windows-1252 out, and which tool did it.
    local bytes
    bytes=$(cat)
    if out=$(printf '%s' "$bytes" | iconv -f CP1252 -t UTF-8 2>/dev/null); then
        printf '%s\ticonv' "$out"
    else
        printf '%s\tuconv' "$(printf '%s' "$bytes" | uconv -f windows-1252 -t UTF-8)"
    fi
}

: >tcvn3.tsv
: >mojibake.tsv
: >mojibake2.tsv
while IFS= read -r line; do
    vn1=$(printf '%s' "$line" | iconv -f UTF-8 -t TCVN5712-1)
    if ! printf '%s' "$vn1" | LC_ALL=C grep -q "$vn1_only"; then
        printf '%s\t%s\n' "$(printf '%s' "$vn1" | iconv -f LATIN1 -t UTF-8)" "$line" >>tcvn3.tsv
    fi
    once=$(printf '%s' "$line" | cp1252)
    printf '%s\t%s\t%s\n' "${once%$'\t'*}" "$line" "${once##*$'\t'}" >>mojibake.tsv
    twice=$(printf '%s' "${once%$'\t'*}" | cp1252)
    tool="${once##*$'\t'}+${twice##*$'\t'}"
    printf '%s\t%s\t%s\n' "${twice%$'\t'*}" "$line" "$tool" >>mojibake2.tsv
done <unicode.txt

: >tcvn3_bytes.tsv
for b in $(seq 160 255); do
    hex=$(printf '%02X' "$b")
    latin1=$(printf "\\x$hex" | iconv -f LATIN1 -t UTF-8)
    unicode=$(printf "\\x$hex" | iconv -f TCVN5712-1 -t UTF-8)
    printf '%s\t%s\t%s\n' "$hex" "$latin1" "$unicode" >>tcvn3_bytes.tsv
done
