#!/usr/bin/env python3
"""Deterministic generator for the KamiRelay redaction evaluation corpus.

Writes corpus.jsonl and issued-keys.txt next to this file, then validates
them (checksums, span boundaries, overlaps, id uniqueness) and prints counts.
Standard library only.  Run:  python3 generate.py
"""
import json
import os
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from datetime import date, timedelta

# CORPUS_SEED / CORPUS_OUT let a reviewer draw a fresh corpus (new values and obfuscations from the
# same templates) into another folder without touching the committed one.
SEED = int(os.environ.get("CORPUS_SEED", "20260526"))
R = random.Random(SEED)
HERE = os.environ.get("CORPUS_OUT") or os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# character helpers
# ---------------------------------------------------------------------------
ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
OBF_SEPS = ["\u00a0", "\u3000", "\uff0d", ".", "\u00b7", "/", "_", "\n"]
PLAIN_SEPS = [" ", "-"]
ALL_SEPS = set(OBF_SEPS + PLAIN_SEPS)
CN_LOWER = {"0": ["〇", "零"], "1": ["一", "幺"], "2": ["二", "两"], "3": ["三"], "4": ["四"],
            "5": ["五"], "6": ["六"], "7": ["七"], "8": ["八"], "9": ["九"]}
CN_UPPER = {"0": ["零"], "1": ["壹"], "2": ["贰"], "3": ["叁"], "4": ["肆"], "5": ["伍"],
            "6": ["陆"], "7": ["柒"], "8": ["捌"], "9": ["玖"]}
CN2D = {}
for _d, _cs in list(CN_LOWER.items()) + list(CN_UPPER.items()):
    for _c in _cs:
        CN2D[_c] = _d

KEY_ALPHA = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"


def fw(c):
    o = ord(c)
    return chr(o + 0xFEE0) if 0x21 <= o <= 0x7E else c


def rdig(n, first=None):
    s = "".join(R.choice(DIGITS) for _ in range(n))
    if first is not None:
        s = first + s[len(first):]
    return s


def luhn_ok(d):
    tot = 0
    for i, ch in enumerate(reversed(d)):
        v = int(ch)
        if i % 2 == 1:
            v *= 2
            if v > 9:
                v -= 9
        tot += v
    return tot % 10 == 0


def luhn_complete(body):
    for c in DIGITS:
        if luhn_ok(body + c):
            return body + c
    raise AssertionError


def known_prefix(d):
    """Issuer prefix ignoring length."""
    if d[0] == "4":
        return True
    p2, p4 = int(d[:2]), int(d[:4]) if len(d) >= 4 else 0
    return (51 <= p2 <= 55 or 2221 <= p4 <= 2720 or p2 in (34, 37, 62, 65)
            or 3528 <= p4 <= 3589 or d.startswith("6011"))


def is_pan(d):
    if not d.isdigit() or not luhn_ok(d):
        return False
    n = len(d)
    p2, p4 = int(d[:2]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p2 == 62:
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589 or d.startswith("6011") or p2 == 65:
        return 16 <= n <= 19
    return False


def pan_like(d):
    """Anything a scanner might take for a card: Luhn-valid, known prefix, 12-19 digits."""
    return d.isdigit() and 12 <= len(d) <= 19 and luhn_ok(d) and known_prefix(d)


ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_C = "10X98765432"


def id_check(body17):
    return ID_C[sum(int(a) * b for a, b in zip(body17, ID_W)) % 11]


def valid_date(y, m, d):
    try:
        date(y, m, d)
        return True
    except ValueError:
        return False


def id_valid(s):
    s = s.upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    if not valid_date(int(s[6:10]), int(s[10:12]), int(s[12:14])):
        return False
    return id_check(s[:17]) == s[17]


def iban_valid(s):
    s = s.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", s):
        return False
    r = s[4:] + s[:4]
    n = "".join(str(int(c, 36)) for c in r)
    return int(n) % 97 == 1


def iban_make(cc, bban):
    r = bban + cc + "00"
    n = "".join(str(int(c, 36)) for c in r)
    chk = 98 - int(n) % 97
    return "%s%02d%s" % (cc, chk, bban)


# ---------------------------------------------------------------------------
# value generators  (return digit/char strings, canonical)
# ---------------------------------------------------------------------------
def gen_pan():
    kind = R.choices(["visa", "mc", "mc2", "amex", "up", "jcb", "disc"],
                     [26, 16, 6, 8, 30, 7, 7])[0]
    if kind == "visa":
        n = R.choices([16, 13, 19], [90, 4, 6])[0]
        body = "4" + rdig(n - 2)
    elif kind == "mc":
        n = 16
        body = str(R.randint(51, 55)) + rdig(n - 3)
    elif kind == "mc2":
        n = 16
        body = str(R.randint(2221, 2720)) + rdig(n - 5)
    elif kind == "amex":
        n = 15
        body = R.choice(["34", "37"]) + rdig(n - 3)
    elif kind == "up":
        n = R.choices([16, 19, 17, 18], [60, 30, 5, 5])[0]
        body = R.choice(["622202", "621700", "622848", "622588", "623058", "621483", "622262", "625966"]) + rdig(n - 7)
    elif kind == "jcb":
        n = 16
        body = str(R.randint(3528, 3589)) + rdig(n - 5)
    else:
        n = 16
        body = R.choice(["6011", "65" + rdig(2)]) + rdig(n - 5)
        body = body[:n - 1]
    d = luhn_complete(body)
    assert is_pan(d), d
    return d


def pan_groups(d):
    n = len(d)
    if n == 15 and d[:2] in ("34", "37"):
        return [4, 6, 5]
    if n == 19:
        return R.choice([[4, 4, 4, 4, 3], [6, 13]])
    g = [4] * (n // 4)
    if n % 4:
        g.append(n % 4) if n % 4 >= 2 else None
        if n % 4 == 1:
            g[-1] += 1
    return g


def gen_bank():
    while True:
        kind = R.random()
        if kind < 0.35:  # UnionPay-looking debit account that fails Luhn
            n = R.choice([16, 19])
            d = R.choice(["6217", "6222", "6228", "6214"]) + rdig(n - 4)
        elif kind < 0.7:  # account numbers with no card prefix
            n = R.choice([12, 13, 14, 15, 16, 17, 19])
            d = R.choice(["1", "3", "7", "8", "9"]) + rdig(n - 1)
        else:
            n = R.choice([10, 12, 14, 16])
            d = R.choice(["11", "31", "44", "50", "75", "80"]) + rdig(n - 2)
        if luhn_ok(d) and known_prefix(d):
            continue
        if len(d) == 11 and re.match(r"1[3-9]", d):
            continue
        if len(d) == 18:
            continue
        return d


IBAN_SPECS = [("DE", "d18"), ("GB", "L4d14"), ("FR", "d10a11d2"), ("NL", "L4d10"),
              ("ES", "d20"), ("IT", "L1d10a12"), ("CH", "d17"), ("AT", "d16"), ("BE", "d12")]


def gen_iban():
    cc, spec = R.choice(IBAN_SPECS)
    bban = ""
    for m in re.finditer(r"([dLa])(\d+)", spec):
        k, n = m.group(1), int(m.group(2))
        src = DIGITS if k == "d" else LETTERS if k == "L" else UPPER_ALNUM
        bban += "".join(R.choice(src) for _ in range(n))
    if cc == "GB":
        bban = R.choice(["WEST", "BARC", "NWBK", "LOYD", "HBUK"]) + bban[4:]
    s = iban_make(cc, bban)
    assert iban_valid(s)
    return s


def gen_cvv(four=False):
    return rdig(4 if four else 3)


def gen_exp():
    m = R.randint(1, 12)
    y = R.randint(25, 32)
    f = R.choices(["a", "b", "c"], [70, 15, 15])[0]
    if f == "a":
        return ("%02d" % m, "/", "%02d" % y)
    if f == "b":
        return ("%02d" % m, "/", "20%02d" % y)
    return ("%02d" % m, "-", "%02d" % y)


def gen_pin():
    return rdig(R.choice([4, 6, 6, 6, 5]))


def gen_otp():
    return rdig(R.choices([4, 5, 6, 8], [20, 5, 65, 10])[0])


def gen_paycode():
    while True:
        if R.random() < 0.5:
            d = str(R.randint(25, 30)) + rdig(16)
        else:
            d = str(R.randint(10, 15)) + rdig(16)
        if pan_like(d) or luhn_ok(d) and known_prefix(d) or id_valid(d):
            continue
        return d


def rand_day(y0=2023, y1=2026):
    start = date(y0, 1, 1)
    return start + timedelta(days=R.randint(0, (date(y1, 12, 31) - start).days))


def gen_txn():
    dd = rand_day().strftime("%Y%m%d")
    if R.random() < 0.55:
        return dd + "2200" + rdig(16)
    return "4200" + rdig(6) + dd + rdig(10)


MOBILE_P = ["130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "147", "150",
            "151", "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176",
            "177", "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191",
            "193", "195", "198", "199"]


def gen_mobile():
    return R.choice(MOBILE_P) + rdig(8)


AREA3 = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029"]
AREA4 = ["0755", "0571", "0512", "0531", "0532", "0591", "0592", "0731", "0771", "0871", "0898", "0769"]


def gen_landline():
    if R.random() < 0.5:
        return R.choice(AREA3), str(R.randint(2, 8)) + rdig(7)
    return R.choice(AREA4), str(R.randint(2, 8)) + rdig(R.choice([6, 7, 7]))


def gen_intl():
    """returns list of digit groups (country code first)"""
    while True:
        k = R.choice(["us", "uk", "ukl", "hk", "sg", "jp", "au", "de", "tw", "my", "mo"])
        if k == "us":
            g = ["1", str(R.randint(2, 9)) + rdig(2), str(R.randint(2, 9)) + rdig(2), rdig(4)]
        elif k == "uk":
            g = ["44", "7" + rdig(3), rdig(6)]
        elif k == "ukl":
            g = ["44", "20", "7" + rdig(3), rdig(4)]
        elif k == "hk":
            g = ["852", R.choice("569") + rdig(3), rdig(4)]
        elif k == "sg":
            g = ["65", R.choice("89") + rdig(3), rdig(4)]
        elif k == "jp":
            g = ["81", R.choice(["90", "80", "70"]), rdig(4), rdig(4)]
        elif k == "au":
            g = ["61", "4" + rdig(2), rdig(3), rdig(3)]
        elif k == "de":
            g = ["49", R.choice(["151", "160", "170", "176"]), rdig(8)]
        elif k == "tw":
            g = ["886", "9" + rdig(2), rdig(3), rdig(3)]
        elif k == "my":
            g = ["60", "1" + rdig(1), rdig(3), rdig(4)]
        else:
            g = ["853", "6" + rdig(3), rdig(4)]
        d = "".join(g)
        if pan_like(d):
            continue
        return g


EMAIL_LOCAL = ["zhangwei", "li.na88", "wang_lei", "xiaoming2008", "chenjing", "liuyang.bj", "amy.chen",
               "tom_h", "jason.wu", "lucky777", "sunny.lin", "mike.zhao", "kk2019", "fengfeng",
               "yuki.tan", "dan.smith", "j.doe", "happycat", "ww_2023", "hello.panda", "zhou.jie",
               "grace_liu", "lilei1990", "hanmeimei", "a.kumar", "noah.b", "steamfan", "gamer_x",
               "xy.huang", "crystal.he"]
EMAIL_DOM = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "hotmail.com", "foxmail.com",
             "sina.com", "yahoo.com", "icloud.com", "proton.me", "yeah.net", "139.com", "live.cn",
             "company.com.cn", "mail.ru"]


def gen_email():
    if R.random() < 0.15:
        local = str(R.randint(10000000, 2999999999))
    else:
        local = R.choice(EMAIL_LOCAL)
        if R.random() < 0.3:
            local += str(R.randint(1, 99))
    return local + "@" + R.choice(EMAIL_DOM)


ID_AREAS = ["110101", "110105", "110108", "120101", "130102", "310104", "310115", "320102", "320506",
            "330106", "330203", "340102", "350203", "360102", "370202", "410105", "420102", "430104",
            "440106", "440305", "440306", "450103", "500103", "510107", "520102", "530102", "610113",
            "210102", "220102", "230102", "350102", "370102"]


def gen_id(want_x=None):
    while True:
        y = R.randint(1958, 2006)
        bd = date(y, 1, 1) + timedelta(days=R.randint(0, 364))
        body = R.choice(ID_AREAS) + bd.strftime("%Y%m%d") + rdig(3)
        s = body + id_check(body)
        if want_x is not None and (s[-1] == "X") != want_x:
            continue
        if pan_like(s):
            continue
        return s


def gen_id15():
    while True:
        bd = date(R.randint(1950, 1980), 1, 1) + timedelta(days=R.randint(0, 364))
        s = R.choice(ID_AREAS) + bd.strftime("%y%m%d") + rdig(3)
        if pan_like(s):
            continue
        return s


def mixed_token(n, alpha=KEY_ALPHA, min_l=2, min_d=2):
    while True:
        s = "".join(R.choice(alpha) for _ in range(n))
        if sum(c.isalpha() for c in s) >= min_l and sum(c.isdigit() for c in s) >= min_d:
            return s


def gen_shape_key(shape=None):
    shape = shape or R.choices(["5x5", "555", "444", "4444", "464", "x16"], [18, 22, 12, 25, 10, 13])[0]
    if shape == "x16":
        return "X" + mixed_token(15)
    sizes = {"5x5": [5] * 5, "555": [5, 5, 5], "444": [4, 4, 4], "4444": [4, 4, 4, 4], "464": [4, 6, 4]}[shape]
    t = mixed_token(sum(sizes))
    out, i = [], 0
    for s in sizes:
        out.append(t[i:i + s])
        i += s
    return "-".join(out)


def gen_gc():
    t = mixed_token(12, UPPER_ALNUM)
    return "GC-%s-%s-%s" % (t[:4], t[4:8], t[8:])


def gen_kwkey():
    k = R.choices(["up", "mixed", "low", "dash"], [45, 20, 25, 10])[0]
    if k == "up":
        return mixed_token(R.choice([8, 9, 10, 12, 14, 18]), UPPER_ALNUM)
    if k == "mixed":
        return mixed_token(R.choice([8, 10, 12]), "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    if k == "low":
        return mixed_token(R.choice([6, 8, 10, 12]), "abcdefghijkmnpqrstuvwxyz0123456789", 1, 1)
    t = mixed_token(R.choice([12, 15]), UPPER_ALNUM)
    return "-".join(t[i:i + (4 if len(t) == 12 else 5)] for i in range(0, len(t), 4 if len(t) == 12 else 5))


def gen_order():
    while True:
        s = "".join(R.choice(UPPER_ALNUM) for _ in range(16))
        nd = sum(c.isdigit() for c in s)
        if nd >= 3 and 16 - nd >= 3 and s[0] != "X":
            return s


# ---------------------------------------------------------------------------
# rendering of digit strings (plain / obfuscated)
# ---------------------------------------------------------------------------
def split_groups(s, sizes):
    out, i = [], 0
    for n in sizes:
        out.append(s[i:i + n])
        i += n
    if i < len(s):
        out[-1] += s[i:]
    return out


def random_groups(n):
    """random grouping, every group >= 2 chars"""
    if n < 4:
        return [n]
    sizes = []
    left = n
    while left > 0:
        if left <= 5:
            sizes.append(left)
            break
        g = R.choice([2, 3, 4, 4, 4, 5])
        if left - g < 2:
            g = left
        sizes.append(g)
        left -= g
    return sizes


def transform_chars(chars, techniques):
    """chars: list of str (each one significant char). returns list of str."""
    out = list(chars)
    digit_idx = [i for i, c in enumerate(out) if c.isdigit()]
    if "cn_all" in techniques:
        tab = CN_LOWER if R.random() < 0.85 else CN_UPPER
        for i in digit_idx:
            out[i] = R.choice(tab[out[i]])
    elif "cn_some" in techniques and digit_idx:
        tab = CN_LOWER if R.random() < 0.75 else CN_UPPER
        k = max(1, int(len(digit_idx) * R.uniform(0.25, 0.6)))
        for i in R.sample(digit_idx, k):
            out[i] = R.choice(tab[out[i]])
    if "fw_all" in techniques:
        out = [fw(c) if len(c) == 1 and ord(c) < 0x7F else c for c in out]
    elif "fw_some" in techniques:
        idx = [i for i, c in enumerate(out) if len(c) == 1 and ord(c) < 0x7F]
        if idx:
            start = R.randrange(len(idx))
            for i in idx[start:start + max(2, len(idx) // 2)]:
                out[i] = fw(out[i])
    return out


def join_groups(groups, sep, zw_count):
    """groups: list of list-of-char-strings. inserts zero-width chars strictly inside."""
    flat = []
    for gi, g in enumerate(groups):
        if gi:
            flat.append(sep)
        flat.extend(g)
    if zw_count:
        inner = list(range(1, len(flat)))
        for pos in sorted(R.sample(inner, min(zw_count, len(inner))), reverse=True):
            flat.insert(pos, R.choice(ZW))
    return "".join(flat)


def render_digits(d, groups, obf, allow_cn_all=False, plain_seps=(" ", "-")):
    """d: canonical char string (digits, maybe trailing X). groups: sizes or None."""
    if not obf:
        if groups is None or len(groups) == 1:
            return d
        sep = R.choice(plain_seps)
        return sep.join(split_groups(d, groups))
    # obfuscated
    while True:
        techs = set()
        if groups is None and R.random() < 0.45:
            groups = random_groups(len(d))
        use_groups = groups if (groups and len(groups) > 1 and R.random() < 0.8) else [len(d)]
        sep = ""
        if len(use_groups) > 1:
            sep = R.choice(OBF_SEPS + [" ", " ", "-"])
            if sep not in (" ", "-"):
                techs.add("sep")
        r = R.random()
        if r < 0.28:
            techs.add("fw_all")
        elif r < 0.42:
            techs.add("fw_some")
        r = R.random()
        if r < 0.35:
            techs.add("cn_some")
        elif r < 0.45 and allow_cn_all:
            techs.add("cn_all")
        zw = 0
        if R.random() < 0.35:
            zw = R.choice([1, 1, 2, 3])
            techs.add("zw")
        if not techs:
            continue
        chars = transform_chars(list(d), techs)
        gs = split_groups(chars, use_groups)
        return join_groups(gs, sep, zw)


def render_key(k, obf):
    """card keys / alnum tokens"""
    if not obf:
        return k
    while True:
        s = k
        done = False
        if "-" in s and R.random() < 0.45:
            s = s.replace("-", " ")
            done = True
        elif "-" not in s and len(s) >= 8 and R.random() < 0.25:
            cut = R.choice([4, 5]) if len(s) >= 10 else 4
            s = " ".join(s[i:i + cut] for i in range(0, len(s), cut))
            if len(s.split(" ")[-1]) < 2:
                continue
            done = True
        if any(c.isupper() for c in s) and R.random() < 0.5:
            s = s.lower()
            done = True
        r = R.random()
        if r < 0.3:
            s = "".join(fw(c) if c.isalnum() else c for c in s)
            done = True
        elif r < 0.45:
            chars = list(s)
            idx = [i for i, c in enumerate(chars) if c.isalnum()]
            st = R.randrange(len(idx))
            for i in idx[st:st + 4]:
                chars[i] = fw(chars[i])
            s = "".join(chars)
            done = True
        if R.random() < 0.35 or not done:
            chars = list(s)
            for _ in range(R.choice([1, 1, 2])):
                pos = R.randint(1, len(chars) - 1)
                chars.insert(pos, R.choice(ZW))
            s = "".join(chars)
            done = True
        if done and s != k:
            return s


def render_email(e, obf):
    if not obf:
        return e
    while True:
        local, dom = e.split("@")
        done = False
        at = "@"
        if R.random() < 0.55:
            at = "＠"
            done = True
        if R.random() < 0.45:
            dom = dom.replace(".", "．")
            done = True
        if R.random() < 0.3:
            local = "".join(fw(c) for c in local)
            done = True
        elif R.random() < 0.15:
            dom = "".join(fw(c) for c in dom)
            done = True
        s = local + at + dom
        if R.random() < 0.35 or not done:
            chars = list(s)
            pos = R.randint(1, len(chars) - 1)
            chars.insert(pos, R.choice(ZW))
            s = "".join(chars)
        return s


def render_iban(s, obf):
    groups = [4] * (len(s) // 4) + ([len(s) % 4] if len(s) % 4 else [])
    if groups[-1] == 1:
        groups = groups[:-2] + [5]
    if not obf:
        return R.choice([s, " ".join(split_groups(s, groups)), " ".join(split_groups(s, groups))])
    while True:
        chars = list(s)
        done = False
        if R.random() < 0.3:
            chars = [c.lower() for c in chars]
            done = True
        r = R.random()
        if r < 0.35:
            chars = [fw(c) for c in chars]
            done = True
        sep = R.choice([" ", "\u00a0", "\u3000", "-", "·", ".", "_"])
        if sep != " ":
            done = True
        zw = 0
        if R.random() < 0.4 or not done:
            zw = R.choice([1, 2])
        out = join_groups(split_groups(chars, groups), sep, zw)
        return out


# ---------------------------------------------------------------------------
# secret markers -> (string, [(type, start, end)], plus_offset)
# ---------------------------------------------------------------------------
MARKER_TYPE = {"pan": "payment_card", "bank": "bank_account", "iban": "bank_account", "cvv": "cvv",
               "cvv4": "cvv", "exp": "card_expiry", "pin": "pin", "otp": "one_time_code",
               "paycode": "payment_code", "txn": "transaction_number", "mobile": "phone",
               "landline": "phone", "intl": "phone", "phone": "phone", "email": "email",
               "id": "cn_resident_id", "id15": "cn_resident_id", "key": "card_key",
               "kwkey": "card_key", "kwkey16": "card_key", "gc": "card_key", "issued": "card_key"}


def sec_pan(obf):
    d = gen_pan()
    g = pan_groups(d)
    if not obf:
        r = R.random()
        if r < 0.4:
            return d
        return render_digits(d, g, False)
    return render_digits(d, g, True)


def sec_bank(obf):
    d = gen_bank()
    g = [4] * (len(d) // 4)
    rem = len(d) % 4
    if rem == 1:
        g[-1] += 1
    elif rem:
        g.append(rem)
    if not obf:
        return d if R.random() < 0.65 else render_digits(d, g, False, plain_seps=(" ",))
    return render_digits(d, g, True)


def sec_exp(obf):
    m, sep, y = gen_exp()
    if not obf:
        return m + sep + y
    while True:
        techs = set()
        r = R.random()
        if r < 0.4:
            techs.add("fw_all")
        elif r < 0.55:
            techs.add("fw_some")
        r = R.random()
        if r < 0.3:
            techs.add("cn_some")
        elif r < 0.45:
            techs.add("cn_all")
        s_sep = sep
        if R.random() < 0.3:
            s_sep = R.choice(["／", "－", "/"])
            if s_sep != sep:
                techs.add("sep")
        zw = R.random() < 0.3
        if zw:
            techs.add("zw")
        if not techs:
            continue
        chars = transform_chars(list(m + y), techs - {"sep"})
        if "fw_all" in techs and s_sep in "/-":
            s_sep = fw(s_sep)
        mm, yy = chars[:2], chars[2:]
        s = join_groups([mm, yy], s_sep, 1 if zw else 0)
        return s


def sec_short(d, obf, groups=None):
    if not obf:
        return d
    return render_digits(d, groups, True, allow_cn_all=True)


def sec_mobile(obf):
    d = gen_mobile()
    pre = R.choices(["", "+86", "0086", "86"], [78, 12, 5, 5])[0]
    plus = pre.startswith("+")
    pd = pre.lstrip("+")
    if not obf:
        r = R.random()
        sep = " " if r < 0.78 else "-" if r < 0.93 else "."
        body = d if r < 0.55 else sep.join((d[:3], d[3:7], d[7:]))
        if pd:
            return ("+" if plus else "") + pd + R.choice([" ", "", "-"]) + body, 1 if plus else 0
        return body, 0
    groups = ([len(pd)] if pd else []) + R.choice([[3, 4, 4], [3, 4, 4], [11], [3, 8], [7, 4]])
    s = render_digits(pd + d, groups, True, allow_cn_all=True)
    if plus:
        p = R.choice(["+", "＋"])
        return p + s, 1
    return s, 0


def sec_landline(obf):
    a, n = gen_landline()
    if not obf:
        f = R.random()
        if f < 0.5:
            return a + "-" + n, 0
        if f < 0.7:
            return "(" + a + ")" + n, 1
        if f < 0.85:
            return a + " " + n, 0
        return a + n, 0
    return render_digits(a + n, [len(a), len(n)] if R.random() < 0.7 else [len(a), 4, len(n) - 4], True), 0


def sec_intl(obf):
    g = gen_intl()
    d = "".join(g)
    if not obf:
        f = R.random()
        if f < 0.65:
            return "+" + " ".join(g), 1
        if f < 0.85:
            return "+" + d, 1
        return "+" + "-".join(g), 1
    p = R.choice(["+", "+", "＋"])
    return p + render_digits(d, [len(x) for x in g], True), 1


def sec_id(obf, want_x=None):
    s = gen_id(want_x)
    if not obf:
        if s[-1] == "X" and R.random() < 0.3:
            s = s[:-1] + "x"
        return s
    if s[-1] == "X" and R.random() < 0.4:
        s = s[:-1] + "x"
    g = R.choice([[6, 8, 4], [6, 4, 4, 4], [3, 3, 4, 4, 4], [18], [6, 12]])
    return render_digits(s, g, True)


def sec_id15(obf):
    s = gen_id15()
    if not obf:
        return s
    return render_digits(s, R.choice([[6, 6, 3], [15], [6, 9]]), True)


def make_secret(marker, obf):
    """returns (string, type, lead) where lead = count of leading chars excluded from span"""
    t = MARKER_TYPE[marker]
    lead = 0
    if marker == "pan":
        s = sec_pan(obf)
    elif marker == "bank":
        s = sec_bank(obf)
    elif marker == "iban":
        s = render_iban(gen_iban(), obf)
    elif marker in ("cvv", "cvv4"):
        s = sec_short(gen_cvv(marker == "cvv4" or R.random() < 0.08), obf)
    elif marker == "exp":
        s = sec_exp(obf)
    elif marker == "pin":
        d = gen_pin()
        s = sec_short(d, obf, [3, 3] if len(d) == 6 else None)
    elif marker == "otp":
        d = gen_otp()
        s = sec_short(d, obf, [3, 3] if len(d) == 6 else [4, 4] if len(d) == 8 else None)
    elif marker == "paycode":
        d = gen_paycode()
        if not obf:
            s = d if R.random() < 0.75 else " ".join(split_groups(d, [4, 4, 4, 6]))
        else:
            s = render_digits(d, [4, 4, 4, 6] if R.random() < 0.5 else [2, 4, 4, 4, 4], True)
    elif marker == "txn":
        d = gen_txn()
        s = d if not obf else render_digits(d, [4] * 7 if R.random() < 0.5 else [8, 4, 16], True)
    elif marker == "mobile":
        s, lead = sec_mobile(obf)
    elif marker == "landline":
        s, lead = sec_landline(obf)
        if lead:  # "(021)6123..." : span starts at first digit
            pass
    elif marker == "intl":
        s, lead = sec_intl(obf)
    elif marker == "phone":
        return make_secret(R.choices(["mobile", "landline", "intl"], [75, 12, 13])[0], obf)
    elif marker == "email":
        s = render_email(gen_email(), obf)
    elif marker == "id":
        s = sec_id(obf, want_x=True if R.random() < 0.2 else None)
    elif marker == "id15":
        s = sec_id15(obf)
    elif marker == "key":
        s = render_key(gen_shape_key(), obf)
    elif marker == "kwkey":
        s = render_key(gen_kwkey(), obf)
    elif marker == "kwkey16":
        s = render_key(gen_order(), obf)
    elif marker == "gc":
        s = render_key(gen_gc(), obf)
    else:
        raise KeyError(marker)
    return s, t, lead


# ---------------------------------------------------------------------------
# non-secret fillers
# ---------------------------------------------------------------------------
PRODUCTS_ZH = ["Steam 100美元充值卡", "Xbox Game Pass 3个月", "Netflix 高级会员1个月", "Spotify 年卡",
               "App Store 50美元", "腾讯视频VIP月卡", "爱奇艺黄金会员", "网易云音乐年卡", "RTX 4090",
               "iPhone 15 Pro", "PSN 港服 500", "Google Play 25刀", "ChatGPT Plus 月卡", "原神创世结晶 6480",
               "Switch 会员12个月", "优酷会员季卡", "B站大会员", "Office 365 家庭版", "Windows 11 专业版"]
PRODUCTS_EN = ["Steam 100 USD", "Xbox Game Pass 3 months", "Netflix Premium 1 month", "Spotify yearly",
               "App Store 50 USD", "RTX 4090", "iPhone 15 Pro", "PSN HK 500", "Google Play 25",
               "Windows 11 Pro", "Office 365 Family", "Nintendo Switch Online 12 months", "Discord Nitro"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "香港", "台湾", "新加坡", "美国"]


def f_amount():
    return R.choice(["¥%d.00" % R.choice([9, 19, 35, 68, 99, 128, 199, 299, 648]),
                     "%d元" % R.choice([5, 10, 30, 50, 100, 200, 500]),
                     "$%d" % R.choice([5, 10, 20, 25, 50, 100]),
                     "%d.%d块" % (R.choice([9, 19, 29, 99]), R.choice([5, 8, 9])),
                     "1,%03d.00" % R.choice([99, 299, 499, 888]),
                     "￥%d" % R.choice([15, 35, 88, 168]),
                     "%d块钱" % R.choice([6, 12, 45, 66, 88]),
                     "USD %d.99" % R.choice([4, 9, 12, 19])])


def f_date():
    d = rand_day(2024, 2026)
    return R.choice([d.strftime("%Y-%m-%d"), "%d/%d/%d" % (d.year, d.month, d.day),
                     "%d月%d号" % (d.month, d.day), "%d月%d日" % (d.month, d.day),
                     "%d.%d" % (d.month, d.day)])


def f_date_en():
    d = rand_day(2024, 2026)
    return R.choice([d.strftime("%Y-%m-%d"), d.strftime("%b %d").replace(" 0", " "),
                     "%d/%d/%d" % (d.year, d.month, d.day)])


def f_time():
    return R.choice(["%02d:%02d:%02d" % (R.randint(0, 23), R.randint(0, 59), R.randint(0, 59)),
                     "%d:%02d" % (R.randint(8, 23), R.randint(0, 59))])


def f_ts():
    d = rand_day(2024, 2026)
    return d.strftime("%Y%m%d") + "%02d%02d%02d" % (R.randint(0, 23), R.randint(0, 59), R.randint(0, 59))


def f_luhnbad():
    while True:
        d = R.choice(["4", "5", "6", "3", "9"]) + rdig(15)
        if not luhn_ok(d):
            return d if R.random() < 0.5 else " ".join(split_groups(d, [4, 4, 4, 4]))


def f_qq():
    return str(R.randint(10000, 999999999)) if R.random() < 0.3 else str(R.randint(100000000, 999999999))


def f_express():
    while True:
        d = rdig(13 if R.random() < 0.7 else 12, R.choice("1234567"))
        if not pan_like(d):
            return R.choice(["SF", "SF", "YT", "JT", "JD", "ZTO"]) + d


FILLERS = {
    "order": gen_order,
    "amt": f_amount,
    "date": f_date,
    "date_en": f_date_en,
    "time": f_time,
    "ts": f_ts,
    "qty": lambda: str(R.choice([2, 3, 5, 10, 20, 50])),
    "n": lambda: str(R.choice([2, 3, 4, 5, 7, 12, 15])),
    "ver": lambda: "v%d.%d.%d" % (R.randint(1, 5), R.randint(0, 12), R.randint(0, 20)),
    "ver_ios": lambda: R.choice(["17.4.1", "16.7.8", "18.1", "17.5", "Android 14", "HarmonyOS 4.2"]),
    "url": lambda: R.choice(["https://shop.example.com/buy?id=%d" % R.randint(1, 300),
                             "https://kami.example.cn/item/%d" % R.randint(10, 999),
                             "http://faka.example.net/query", "https://shop.example.com/orders"]),
    "shopnum": lambda: R.choice(["400-820-8820", "800-810-8888"]),
    "qq": f_qq,
    "express": f_express,
    "product": lambda: R.choice(PRODUCTS_ZH),
    "product_en": lambda: R.choice(PRODUCTS_EN),
    "ticket": lambda: str(R.randint(100, 9999)),
    "luhnbad": f_luhnbad,
    "city": lambda: R.choice(CITIES),
}


# ---------------------------------------------------------------------------
# hand-written templates.  {marker} = secret, {filler} = non-secret filler
# ---------------------------------------------------------------------------
T = {}
T["payment_card"] = {
    "zh": [
        "我用的卡是{pan}，付不了款啊",
        "卡号{pan}扣款成功了但是没收到卡密",
        "银行卡{pan}被扣了两次钱怎么回事",
        "{pan}这张卡绑定不上",
        "信用卡号是{pan} 有效期{exp} 安全码{cvv}",
        "用{pan}付的 钱扣了没发货",
        "帮我查下卡{pan}的付款记录呗",
        "我换了张卡{pan}还是支付失败哈",
        "visa卡{pan}可以用吗",
        "银联卡 {pan} 显示交易被拒绝",
        "刚才付款的卡号是{pan}麻烦退回这张卡",
        "付款用的信用卡{pan}，到期{exp}，能退款吗",
        "我老婆的卡{pan}刚刚也被扣了",
        "这个卡{pan}能不能走外卡通道啊",
        "退款退到{pan}这张卡上就行",
        "亲 我的卡是{pan}你看下扣没扣钱呢",
        "信用卡{pan}付了{amt}没到账",
    ],
    "en": [
        "my card {pan} got charged twice",
        "I paid with {pan} but never got the key",
        "card number is {pan} exp {exp} cvv {cvv}",
        "can you refund to {pan}?",
        "tried {pan} and it says declined lol",
        "the card i used: {pan}",
        "pls check the charge on card {pan}, thx",
        "{pan} is my mastercard, payment failed again",
        "hey, charged {amt} on {pan} and nothing arrived",
    ],
    "mixed": [
        "我的card是{pan} payment failed",
        "refund到这张卡{pan}就行 thanks",
    ],
}
T["bank_account"] = {
    "zh": [
        "退款打到我银行卡{bank}就行",
        "银行卡号{bank} 户名张伟",
        "账号{bank}，工商银行",
        "退款账户：{bank} 建设银行 李娜",
        "我的卡号是{bank}农业银行的",
        "打款到这个账户{bank}吧",
        "账号 {bank} 开户行招商银行深圳分行",
        "银行卡{bank}，麻烦尽快退",
        "钱退到账户{bank}吧支付宝退不了",
        "卡号{bank}你们核对一下",
        "IBAN是{iban}，欧洲的账户",
        "我在德国 退款到{iban}可以吗",
        "银行卡号：{bank}\n姓名：王磊",
        "账户{bank}交通银行 退{amt}",
        "国外账户 {iban} 能转吗",
        "退款麻烦转我账号{bank}哈 谢谢啦",
    ],
    "en": [
        "please refund to my account {bank}",
        "acct no {bank}, bank of china",
        "my IBAN is {iban}",
        "refund to {iban} please, name Anna Schmidt",
        "account: {bank} (ICBC)",
        "can you wire it back? IBAN {iban}",
        "bank account {bank}, just send it there",
        "my account number is {bank} thx",
        "{iban} is my iban, euro only",
    ],
    "mixed": [
        "refund到account {bank} thanks",
        "我的IBAN {iban} please",
    ],
}
T["cvv"] = {
    "zh": [
        "安全码是{cvv}要填在哪",
        "卡背面的三位数是{cvv}",
        "背面三位{cvv}，还是付不了",
        "cvv填的{cvv}没错啊",
        "CVV2 {cvv} 提示错误",
        "卡号{pan} 有效期{exp} 背面三位{cvv}",
        "{cvv}是安全码，你看看对不对",
        "安全码：{cvv}",
        "信用卡背面那三位数{cvv}要发给你们吗",
        "CVC是{cvv}吧我也不确定",
        "我输的安全码是{cvv}但是一直说不对",
        "背面的三位数字{cvv}我已经填了",
        "安全码{cvv}有效期{exp}都填对了啊",
        "cvv码 {cvv} 怎么还报错",
    ],
    "en": [
        "cvv is {cvv}",
        "the 3 digits on the back are {cvv}",
        "security code {cvv}, still failing",
        "CVC: {cvv} exp {exp}",
        "{cvv} is the cvv if you need it",
        "i typed CVV2 {cvv} correctly i swear",
        "security code on the back is {cvv}",
        "cvv {cvv} card {pan}",
        "amex security code {cvv4}",
    ],
    "mixed": [
        "cvv是{cvv}，still declined",
        "背面三位 {cvv} ok?",
    ],
}
T["card_expiry"] = {
    "zh": [
        "有效期是{exp}没过期啊",
        "卡的到期时间{exp}",
        "有效期：{exp} 安全码：{cvv}",
        "我这卡{exp}到期的还能用",
        "有效期填的{exp}不对吗",
        "信用卡有效期 {exp}",
        "到期日{exp}，明明没过期",
        "卡上写的EXP {exp}",
        "有效期到{exp}呢 为啥说卡过期",
        "卡号{pan} 有效期{exp}",
        "有效期那栏填{exp}对吧",
        "VALID THRU {exp} 这个是有效期吧",
        "到期{exp}，换卡了吗我也不知道",
        "有效期{exp}哈 你们再试试",
    ],
    "en": [
        "exp {exp} cvv {cvv}",
        "expiry is {exp}",
        "card expires {exp}, not expired yet",
        "valid thru {exp}",
        "expiry date {exp} btw",
        "it says exp. {exp} on the card",
        "my card expires on {exp} so why declined?",
        "Expiry: {exp}",
    ],
    "mixed": [
        "有效期 exp {exp} ok的",
        "card expires {exp}了吗",
    ],
}
T["pin"] = {
    "zh": [
        "支付密码是{pin}你们帮我付一下",
        "我把取款密码{pin}告诉你们可以吗",
        "银行卡密码{pin}",
        "密码是{pin}，登不上",
        "PIN码{pin}",
        "我的支付密码是{pin}别告诉别人哈",
        "银行卡密码是{pin}要输几次",
        "支付密码：{pin}",
        "取款密码是{pin}吗 我忘了",
        "密码是{pin}你试试",
        "pin是{pin}",
        "银行卡{bank}密码是{pin}",
        "支付密码{pin}输错三次被锁了",
        "银行卡密码 {pin} 帮我看看",
    ],
    "en": [
        "my PIN is {pin}",
        "card pin {pin}, can you try",
        "PIN: {pin}",
        "the pin is {pin} i think",
        "bank card pin {pin} if needed",
        "atm pin is {pin}",
        "PIN code {pin}",
        "PIN {pin} and card {pan}",
    ],
    "mixed": [
        "支付密码 is {pin}",
        "PIN码是{pin} ok",
    ],
}
T["one_time_code"] = {
    "zh": [
        "验证码是{otp}",
        "收到的验证码{otp}，要发给你吗",
        "短信码{otp}",
        "动态码{otp}填了没反应",
        "校验码：{otp}",
        "【某银行】您的验证码为{otp}，5分钟内有效",
        "{otp}是验证码",
        "手机收到{otp}这个验证码",
        "验证码{otp}过期了吗",
        "OTP是{otp}",
        "短信验证码 {otp} 快点啊",
        "支付宝发的校验码{otp}",
        "动态验证码是{otp}谢谢",
        "验证码{otp}你们那边要吗",
    ],
    "en": [
        "the code is {otp}",
        "OTP {otp}",
        "verification code: {otp}",
        "got verification code {otp}, what now",
        "my otp is {otp}",
        "Your verification code is {otp}. Do not share it.",
        "{otp} is the code they sent me",
        "sms code {otp}",
    ],
    "mixed": [
        "验证码 is {otp}",
        "the code是{otp}",
    ],
}
T["payment_code"] = {
    "zh": [
        "付款码{paycode}",
        "我的付款码是{paycode}你们扫一下",
        "付款条码{paycode}",
        "支付宝付款码：{paycode}",
        "微信付款码{paycode}可以直接扣吗",
        "付款码数字是{paycode}",
        "{paycode}这是我付款码",
        "付款码 {paycode} 快扣款",
        "给你付款码{paycode}扣{amt}",
        "付款条码是{paycode}",
        "直接扫付款码{paycode}吧",
        "付款码{paycode}刷不了吗",
        "我把付款码{paycode}发你了",
        "付款码给你{paycode}",
    ],
    "en": [
        "payment code {paycode}",
        "here's my alipay payment code {paycode}",
        "payment code: {paycode}",
        "wechat payment code {paycode}, charge it",
        "my payment code is {paycode}",
        "use payment code {paycode} pls",
        "{paycode} is my payment code",
        "scan this payment code {paycode}",
    ],
    "mixed": [
        "付款码 payment code {paycode}",
        "alipay付款码{paycode} ok?",
    ],
}
T["transaction_number"] = {
    "zh": [
        "交易号{txn}",
        "支付宝订单号{txn}，没收到货",
        "微信支付单号：{txn}",
        "交易单号{txn}帮我查一下",
        "订单号{txn}付款成功了",
        "流水号{txn}",
        "商户单号{txn}",
        "付了钱 交易号是{txn}",
        "支付宝交易号 {txn} 扣款了",
        "{txn}这个是微信支付单号",
        "交易单号：{txn}\n付款时间{date} {time}",
        "订单{order}，支付宝交易号{txn}",
        "账单详情里交易号{txn}",
        "退款的流水号{txn}给你",
    ],
    "en": [
        "transaction id {txn}",
        "trade no {txn}",
        "alipay trade no: {txn}",
        "transaction {txn} shows paid",
        "wechat pay transaction {txn}",
        "my order {order}, transaction no {txn}",
        "paid, transaction number {txn}",
        "refund transaction {txn} pls check",
    ],
    "mixed": [
        "交易号 transaction {txn}",
        "trade no是{txn}",
    ],
}
T["phone"] = {
    "zh": [
        "电话{mobile}谢谢",
        "我手机{mobile}",
        "有问题打我电话{mobile}",
        "联系方式{mobile}微信同号",
        "手机号：{mobile}",
        "我的号码是{mobile}，到货通知我",
        "打{mobile}找我",
        "{mobile}这个号收不到短信",
        "座机{landline}",
        "公司电话{landline}找前台",
        "在香港 电话{intl}",
        "加我手机{mobile}或者邮箱也行",
        "我换号了新号{mobile}旧的不用了",
        "手机{mobile}收不到卡密短信",
        "号码{mobile}，麻烦回个电话",
        "联系人王先生{mobile}",
        "你们客服{shopnum}打不通 我电话{mobile}回我",
    ],
    "en": [
        "call me at {mobile}",
        "my number is {intl}",
        "phone: {intl}",
        "text me on {mobile} pls",
        "you can reach me at {intl} anytime",
        "my chinese number {mobile}",
        "office line {landline}",
        "whatsapp {intl}",
    ],
    "mixed": [
        "手机 {mobile} call me",
        "my phone是{mobile}",
    ],
}
T["email"] = {
    "zh": [
        "请发到{email}谢谢",
        "邮箱{email}",
        "卡密发我邮箱{email}吧",
        "我的邮箱是{email}收不到邮件",
        "发{email}就行",
        "邮箱：{email}",
        "{email}这个邮箱没收到",
        "换个邮箱{email}再发一次",
        "下单邮箱填的{email}",
        "查询邮箱{email}，订单{order}",
        "麻烦发到这个{email}",
        "email填的{email}对吧",
        "我注册用的{email}",
        "联系邮箱{email}有事发邮件",
    ],
    "en": [
        "send it to {email} thanks",
        "my email is {email}",
        "email: {email}",
        "i used {email} when ordering",
        "please resend to {email}",
        "contact me at {email}",
        "{email} didn't get anything",
        "can you send the key to {email}?",
    ],
    "mixed": [
        "邮箱 email {email} thx",
        "send到{email}吧",
    ],
}
T["cn_resident_id"] = {
    "zh": [
        "身份证号{id}",
        "实名认证身份证{id}通不过",
        "我身份证是{id}",
        "身份证：{id} 姓名：张伟",
        "{id}是我的身份证号",
        "身份证号码{id}认证失败",
        "身份证{id15}老身份证",
        "身份证号{id15}",
        "实名信息 张伟 {id}",
        "证件号{id}",
        "游戏要实名 我的身份证{id}帮我弄下",
        "身份证号是{id}，要照片吗",
        "认证用的{id}是对的",
        "老的身份证号{id15}还能用吗",
    ],
    "en": [
        "my chinese ID number is {id}",
        "ID card: {id}",
        "resident id {id}",
        "here is my id {id} for verification",
        "{id} is my id card no",
        "real-name check fails with {id}",
        "national ID {id}",
        "identity card number {id}",
    ],
    "mixed": [
        "身份证 ID {id}",
        "my 身份证号 is {id}",
    ],
}
T["card_key"] = {
    "zh": [
        "卡密{kwkey16}用不了",
        "你们发的卡密{kwkey}显示已使用",
        "激活码{key}激活不了",
        "兑换码：{kwkey}",
        "卡号：{kwkey} 密码：{kwkey}",
        "CDK {kwkey} 无效",
        "序列号{key}",
        "充值码{kwkey}充不进去",
        "{key}这个激活码提示错误",
        "礼品卡{gc}余额是0？",
        "{gc}这张用不了",
        "这个{key}是不是被别人用过了",
        "买的steam key {key} 说已经被激活",
        "我的卡密{kwkey}和订单号{order}",
        "CDKEY：{kwkey}",
        "密码{kwkey}登录提示错误",
        "key是{key}帮我看下",
        "卡密：{kwkey16} 提示无效",
    ],
    "en": [
        "the key {key} doesn't work",
        "activation code {kwkey} invalid",
        "redeem code {kwkey} says already used",
        "serial {key}",
        "got {key} from you, region locked?",
        "gift card {gc} shows zero balance",
        "cdk {kwkey} not working",
        "key: {kwkey} order {order}",
    ],
    "mixed": [
        "卡密 key {kwkey} 不能用",
        "{key} 这个key invalid",
    ],
}

ISSUED_T = {
    "zh": [
        "你们发的{issued}用不了",
        "{issued}显示无效",
        "这个{issued}提示已被使用",
        "刚买的{issued}充不进去啊",
        "{issued}是不是过期了",
        "收到{issued}，怎么用",
        "发给我的是{issued}对吗",
        "{issued}输进去说不存在",
        "昨天买的{issued}今天就不能用了",
        "帮我看看{issued}是不是坏的",
        "给的{issued}和别人撞了",
        "{issued} 用不了 退款",
        "我复制的{issued}没错啊",
        "为什么{issued}显示错误",
        "邮件里的{issued}打不开",
        "老板{issued}这个咋用呢",
    ],
    "en": [
        "is {issued} still valid?",
        "{issued} doesn't work",
        "you sent me {issued} and it's invalid",
        "tried {issued} many times, error every time",
        "what do I do with {issued}",
        "{issued} says already redeemed",
        "got {issued} yesterday, not working today",
        "hey {issued} is broken",
    ],
    "mixed": [
        "{issued} 不能用 invalid",
        "你们发的{issued} not working",
    ],
}

BENIGN_T = {
    "zh": [
        "订单号{order}怎么还没发货",
        "订单{order}付了钱没收到",
        "{order}这个单帮我看看",
        "我付了{amt}怎么显示未支付",
        "价格是{amt}吗",
        "{date}买的 到现在都没到",
        "{date} {time}下的单",
        "付款时间{ts}",
        "买了{qty}张 只到了1张",
        "一次买{qty}张有优惠吗",
        "app版本{ver}打不开",
        "手机系统{ver_ios}显示不出来",
        "链接{url}打不开",
        "你们客服电话{shopnum}打不通",
        "打{shopnum}没人接",
        "加群{qq}",
        "群号{qq}进不去",
        "顺丰单号{express}",
        "快递{express}到哪了",
        "{product}还有货吗",
        "{product}多少钱",
        "{product}一张{amt}吗",
        "第{n}页那个商品",
        "等了{n}天了",
        "工单 #{ticket} 还没人处理",
        "这个编号{luhnbad}是什么意思",
        "后台显示{luhnbad}这串数字",
        "卡密发了吗",
        "你好 在吗",
        "怎么还不发货啊 急用",
        "能不能退款",
        "客服呢？？？",
        "好的谢谢",
        "不好意思买错了",
        "怎么激活啊 教一下",
        "下单的时候选错了规格",
        "支付宝付款失败了怎么办",
        "微信能付吗",
        "已经付款了 麻烦看下",
        "有没有发票",
        "这个卡密在哪个平台用",
        "商品描述说24小时内发货",
        "你们几点上班",
        "{time}之前能发吗",
        "订单号是{order}，金额{amt}",
        "{date}的订单{order}还没处理",
        "退款{amt}什么时候到账",
        "余额还剩{amt}",
        "{product}和{product}有啥区别",
        "我在{city}能用吗",
        "订单{order}已完成但没看到卡密",
        "谢谢老板 好评",
        "卡密在邮件里找到了 没事了",
        "一共{qty}单 总共{amt}",
        "查单页面{url}一直转圈",
        "售后电话是{shopnum}吗",
        "加了群{qq}没人理",
        "单号{order}麻烦加急",
        "我是{date}下午{time}付的款",
        "这个充值卡是{product}吗 {amt}的那个",
        "昨天{time}左右买的，订单{order}",
    ],
    "en": [
        "order {order} still pending",
        "order no {order}, paid {amt}",
        "where is my order? {order}",
        "paid {amt} at {time}",
        "bought {qty} pcs on {date_en}",
        "app version {ver} crashes",
        "the link {url} is broken",
        "your hotline {shopnum} doesn't pick up",
        "tracking number {express}",
        "is {product_en} in stock?",
        "how much for {product_en}?",
        "hi, anyone there?",
        "thanks, got it!",
        "can I get a refund?",
        "which region is this for?",
        "ticket #{ticket} still open",
        "it's been {n} days",
        "page {n} of the catalog",
        "ordered on {date_en}, nothing yet",
        "the timestamp says {ts}",
        "price is {amt} per unit right?",
        "iOS {ver_ios} not supported?",
        "ok cool, works now",
        "what payment methods do you accept?",
        "joined group {qq} but no reply",
        "order {order} was paid on {date_en}",
        "is {product_en} global or US only?",
    ],
    "mixed": [
        "订单 order {order} 还没到",
        "thanks 老板",
        "{product}有货吗 in stock?",
        "refund {amt} 什么时候到",
    ],
}

SPLIT_T = {
    "phone": {
        "zh": [(["我手机号是{p1}"], "{p2}"), (["电话{p1}"], "{p2} 谢谢"), (["在吗", "我号码{p1}"], "后面是{p2}"),
               (["手机{p1}"], "{p2}打这个"), (["联系我 {p1}"], "{p2} 刚才没打完")],
        "en": [(["my number is {p1}"], "{p2}"), (["call me on {p1}"], "{p2} sorry hit enter"),
               (["hi", "phone {p1}"], "{p2} thanks")],
    },
    "payment_card": {
        "zh": [(["卡号{p1}"], "{p2}"), (["我付款用的卡 {p1}"], "{p2} 就这张"), (["信用卡是{p1}"], "{p2}麻烦查下")],
        "en": [(["my card is {p1}"], "{p2}"), (["card {p1}"], "{p2} pls check the charge")],
    },
}


# ---------------------------------------------------------------------------
# issued keys
# ---------------------------------------------------------------------------
def gen_issued_keys():
    keys = []
    seen = set()

    def add(k):
        if k.upper() in seen:
            return False
        seen.add(k.upper())
        keys.append(k)
        return True

    for shape, n in (("4444", 16), ("555", 14), ("5x5", 10), ("464", 10), ("444", 10)):
        c = 0
        while c < n:
            c += add(gen_shape_key(shape))
    c = 0
    while c < 110:  # shapeless upper alnum, 10-20 chars, never 16 (order-number shape)
        n = R.choice([10, 11, 12, 13, 14, 15, 17, 18, 20])
        c += add(mixed_token(n, UPPER_ALNUM, 2, 2))
    c = 0
    while c < 80:  # digit-only recharge PINs, 12-18 digits, no card prefix
        n = R.randint(12, 18)
        d = R.choice("789") + rdig(n - 1)
        if pan_like(d) or id_valid(d) or (luhn_ok(d) and known_prefix(d)):
            continue
        c += add(d)
    c = 0
    while c < 50:  # lowercase hex
        n = R.choice([20, 24, 32])
        h = "".join(R.choice("0123456789abcdef") for _ in range(n))
        if sum(ch.isdigit() for ch in h) < 2 or sum(ch.isalpha() for ch in h) < 2:
            continue
        c += add(h)
    assert len(keys) == 300
    return keys


def issued_variant(k):
    r = R.random()
    if r < 0.55:
        return k
    if r < 0.78 and any(c.isupper() for c in k):
        return k.lower()
    if "-" in k:
        return k.replace("-", " ")
    cut = R.choice([3, 4, 5]) if len(k) < 24 else R.choice([4, 8])
    parts = [k[i:i + cut] for i in range(0, len(k), cut)]
    if len(parts[-1]) < 2:
        parts[-2] += parts[-1]
        parts.pop()
    return " ".join(parts)


# ---------------------------------------------------------------------------
# rendering of a template
# ---------------------------------------------------------------------------
MARK_RE = re.compile(r"\{(\w+)\}")


def render(tmpl, primary, form, issued_value=None):
    out = []
    secrets = []
    fillers = []
    pos = 0
    last = 0
    for m in MARK_RE.finditer(tmpl):
        lit = tmpl[last:m.start()]
        out.append(lit)
        pos += len(lit)
        name = m.group(1)
        if name == "issued":
            s = issued_value
            secrets.append({"type": "card_key", "start": pos, "end": pos + len(s)})
        elif name in MARKER_TYPE:
            t = MARKER_TYPE[name]
            obf = form == "obfuscated" and (t == primary or R.random() < 0.25)
            s, t, lead = make_secret(name, obf)
            secrets.append({"type": t, "start": pos + lead, "end": pos + len(s)})
        else:
            s = FILLERS[name]()
            fillers.append((pos, pos + len(s)))
        out.append(s)
        pos += len(s)
        last = m.end()
    out.append(tmpl[last:])
    return "".join(out), secrets, fillers


# ---------------------------------------------------------------------------
# checker
# ---------------------------------------------------------------------------
def nf(c):
    return unicodedata.normalize("NFKC", c)


def ascii_alnum_like(c):
    n = nf(c)
    return len(n) == 1 and n.isascii() and n.isalnum()


def digit_like(c):
    n = nf(c)
    return (len(n) == 1 and n.isascii() and n.isdigit()) or c in CN2D


def significant(c):
    return ascii_alnum_like(c) or c in CN2D


def normalise(s, keep=""):
    out = []
    for c in s:
        if c in ZW:
            continue
        if c in CN2D:
            out.append(CN2D[c])
            continue
        n = nf(c)
        if n in keep:
            out.append(n)
            continue
        if c in ALL_SEPS or n in (" ", "-", ".", "/", "_", "\n", "(", ")", "·") or c == "\n":
            continue
        out.append(n)
    return "".join(out)


LANDLINE_AREAS = set(AREA3 + AREA4)


def check_value(t, raw, text, start, form, issued_set):
    v = normalise(raw)
    if t == "payment_card":
        return is_pan(v)
    if t == "bank_account":
        if iban_valid(normalise(raw).upper()):
            return True
        return v.isdigit() and 10 <= len(v) <= 19 and not (luhn_ok(v) and known_prefix(v))
    if t == "cvv":
        return v.isdigit() and len(v) in (3, 4)
    if t == "card_expiry":
        e = normalise(raw, keep="/-")
        return re.fullmatch(r"(0[1-9]|1[0-2])[/-](\d\d|20\d\d)", e) is not None
    if t == "pin":
        return v.isdigit() and 4 <= len(v) <= 6
    if t == "one_time_code":
        return v.isdigit() and 4 <= len(v) <= 8
    if t == "payment_code":
        return v.isdigit() and len(v) == 18 and (10 <= int(v[:2]) <= 15 or 25 <= int(v[:2]) <= 30)
    if t == "transaction_number":
        if not (v.isdigit() and len(v) == 28):
            return False
        if v.startswith("4200"):
            return valid_date(int(v[10:14]), int(v[14:16]), int(v[16:18]))
        return v[8:12] == "2200" and valid_date(int(v[:4]), int(v[4:6]), int(v[6:8]))
    if t == "phone":
        if not v.isdigit():
            return False
        if start > 0 and text[start - 1] in "+＋":
            return 8 <= len(v) <= 15
        if re.fullmatch(r"(0086|86)?1[3-9]\d{9}", v):
            return True
        return any(v.startswith(a) and len(v) - len(a) in (7, 8) for a in LANDLINE_AREAS)
    if t == "email":
        e = "".join(nf(c) for c in raw if c not in ZW)
        return re.fullmatch(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", e) is not None
    if t == "cn_resident_id":
        if len(v) == 18:
            return id_valid(v)
        return (len(v) == 15 and v.isdigit() and text[:start].endswith(("身份证", "身份证号"))
                and valid_date(1900 + int(v[6:8]), int(v[8:10]), int(v[10:12])))
    if t == "card_key":
        if form == "issued":
            return v.upper() in issued_set
        u = v.upper()
        return (len(u) >= 6 and u.isalnum() and u.isascii() and any(c.isalpha() for c in u)
                and any(c.isdigit() for c in u))
    return False


INNER_OK = set(ZW) | ALL_SEPS | {"@", "＠", "．", "(", ")", "/", "／", "-", "－", "+", "%"}


def check(records, issued_keys):
    errors = []
    issued_set = {normalise(k).upper() for k in issued_keys}
    ids = set()
    for rec in records:
        rid, text, form = rec["id"], rec["text"], rec["form"]
        if rid in ids:
            errors.append("dup id " + rid)
        ids.add(rid)
        if form == "benign" and rec["secrets"]:
            errors.append(rid + " benign with secrets")
        if form != "benign" and not rec["secrets"]:
            errors.append(rid + " no secrets")
        if form == "split" and not rec.get("previous"):
            errors.append(rid + " split without previous")
        spans = sorted(rec["secrets"], key=lambda s: s["start"])
        for a, b in zip(spans, spans[1:]):
            if a["end"] > b["start"]:
                errors.append(rid + " overlap")
            gap = text[a["end"]:b["start"]]
            if not any(c.isalpha() and c not in CN2D for c in gap):
                errors.append(rid + " secrets not separated by words: %r" % gap)
        for sp in spans:
            s, e, t = sp["start"], sp["end"], sp["type"]
            raw = text[s:e]
            if not raw:
                errors.append(rid + " empty span")
                continue
            if not significant(raw[0]) or not significant(raw[-1]):
                errors.append("%s span edge not significant %r" % (rid, raw))
            for c in raw:
                if not (significant(c) or c in INNER_OK or (t == "email" and (nf(c) in "._%+-"))):
                    errors.append("%s bad inner char %r in %r" % (rid, c, raw))
                    break
            numeric = t not in ("card_key", "email", "bank_account")
            for pos in (s - 1, e):
                if 0 <= pos < len(text):
                    c = text[pos]
                    if ascii_alnum_like(c) or c in CN2D or (t == "email" and nf(c) in "._%+-@"):
                        errors.append("%s glued to %r: %r" % (rid, c, raw))
            for pos, nxt in ((s - 1, s - 2), (e, e + 1)):
                if re.search(r"(?i)cvv2\s?$", text[:s]) and pos == s - 1:
                    continue  # the '2' belongs to the keyword CVV2
                if 0 <= pos < len(text) and 0 <= nxt < len(text) and text[pos] in ALL_SEPS and digit_like(text[nxt]):
                    errors.append("%s digits beyond separator next to %r" % (rid, raw))
            if form == "split":
                full = normalise(rec["previous"][-1]) + normalise(raw)
                m = re.search(r"\d+$", normalise(rec["previous"][-1]))
                first = m.group(0) if m else ""
                full = first + normalise(raw)
                ok = (is_pan(full) if t == "payment_card" else
                      re.fullmatch(r"(0086|86)?1[3-9]\d{9}", full) is not None)
                if not ok:
                    errors.append("%s split value invalid %r" % (rid, full))
                if t == "payment_card" and (is_pan(first) or len(first) >= 10):
                    errors.append(rid + " split first part complete")
                if t == "phone" and len(first) >= 11:
                    errors.append(rid + " split first part complete")
            elif not check_value(t, raw, text, s, form, issued_set):
                errors.append("%s %s value fails check: %r" % (rid, t, raw))
            if form == "plain" and any(c in ZW or c in CN2D or (ord(c) >= 0xFF01 and ord(c) <= 0xFF5E) for c in raw):
                errors.append("%s plain span contains obfuscation %r" % (rid, raw))
        # unlabelled secret-looking digit runs outside labelled spans and fillers
        mask = list(text)
        for sp in spans:
            for i in range(sp["start"], sp["end"]):
                mask[i] = "#"
        for a, b in rec.get("_fillers", []):
            for i in range(a, b):
                mask[i] = "~"
        shadow = "".join(mask)
        for m in re.finditer(r"[0-9０-９](?:[ \-]?[0-9０-９])*", shadow):
            digs = normalise(m.group(0))
            if len(digs) >= 7:
                errors.append("%s unlabelled digit run %r" % (rid, m.group(0)))
        if "@" in shadow or "＠" in shadow:
            errors.append(rid + " unlabelled @")
        # fillers must not be secrets themselves
        for a, b in rec.get("_fillers", []):
            f = text[a:b]
            for m in re.finditer(r"\d[\d ]*\d", f):
                dd = m.group(0).replace(" ", "")
                if pan_like(dd) or re.fullmatch(r"1[3-9]\d{9}", dd) or id_valid(dd):
                    errors.append("%s filler looks like a secret %r" % (rid, f))
            if re.fullmatch(r"[A-Z0-9]{16}", f) and f.startswith("X"):
                errors.append(rid + " order number starting with X")
    return errors


# ---------------------------------------------------------------------------
# assembly
# ---------------------------------------------------------------------------
TYPES = ["payment_card", "bank_account", "cvv", "card_expiry", "pin", "one_time_code", "payment_code",
         "transaction_number", "phone", "email", "cn_resident_id", "card_key"]
PLAIN_MIX = {"zh": 18, "en": 11, "mixed": 3}   # per type -> 32 plain
OBF_MIX = {"zh": 12, "en": 8, "mixed": 2}      # per type -> 22 obfuscated


class Cycler:
    def __init__(self, items):
        self.items = list(items)
        R.shuffle(self.items)
        self.i = 0

    def next(self):
        x = self.items[self.i % len(self.items)]
        self.i += 1
        return x


def build():
    records = []
    texts = set()
    counters = Counter()
    used_templates = defaultdict(set)

    def add(lang, key, form, text, secrets, fillers, previous=None, tmpl=None):
        counters[(lang, key)] += 1
        rec = {"id": "%s-%s-%04d" % (lang, key, counters[(lang, key)]), "lang": lang, "form": form}
        if previous is not None:
            rec["previous"] = previous
        rec["text"] = text
        rec["secrets"] = sorted(secrets, key=lambda s: s["start"])
        rec["_fillers"] = fillers
        records.append(rec)
        texts.add(text)
        if tmpl:
            used_templates[lang].add(tmpl)

    def attempt(tmpl, primary, form, lang, key, issued_value=None, tries=40):
        for _ in range(tries):
            text, secrets, fillers = render(tmpl, primary, form, issued_value)
            if text in texts:
                if issued_value is not None:
                    return False
                continue
            rec = {"id": "probe", "lang": lang, "form": form, "text": text, "secrets": secrets,
                   "_fillers": fillers}
            if form != "benign" and check([rec], issued_keys):
                continue
            if form == "benign" and check([rec], issued_keys):
                continue
            add(lang, key, form, text, secrets, fillers, tmpl=tmpl)
            return True
        return False

    issued_keys = gen_issued_keys()

    # plain + obfuscated
    for t in TYPES:
        cyc = {lang: Cycler(T[t][lang]) for lang in ("zh", "en", "mixed")}
        for form, mix in (("plain", PLAIN_MIX), ("obfuscated", OBF_MIX)):
            for lang, n in mix.items():
                made = 0
                while made < n:
                    if attempt(cyc[lang].next(), t, form, lang, t):
                        made += 1

    # issued
    pool = list(issued_keys)
    R.shuffle(pool)
    # make sure every kind of key shows up
    pool.sort(key=lambda k: (0 if k.isdigit() else 1 if re.fullmatch(r"[0-9a-f]+", k) else 2 if "-" in k else 3, R.random()))
    chosen = []
    for kind in range(4):
        grp = [k for k in pool if (0 if k.isdigit() else 1 if re.fullmatch(r"[0-9a-f]+", k) else 2 if "-" in k else 3) == kind]
        chosen += grp[:{0: 22, 1: 14, 2: 16, 3: 28}[kind]]
    R.shuffle(chosen)
    icyc = {lang: Cycler(ISSUED_T[lang]) for lang in ISSUED_T}
    langs = ["zh"] * 48 + ["en"] * 26 + ["mixed"] * 6
    for k, lang in zip(chosen, langs):
        while not attempt(icyc[lang].next(), "card_key", "issued", lang, "issued", issued_variant(k)):
            pass

    # benign
    bcyc = {lang: Cycler(BENIGN_T[lang]) for lang in BENIGN_T}
    for lang, n in (("zh", 124), ("en", 64), ("mixed", 12)):
        made = 0
        guard = 0
        while made < n and guard < 5000:
            guard += 1
            if attempt(bcyc[lang].next(), None, "benign", lang, "benign", tries=3):
                made += 1

    # split
    for t, n_by_lang in (("phone", {"zh": 12, "en": 6}), ("payment_card", {"zh": 8, "en": 4})):
        for lang, n in n_by_lang.items():
            cyc = Cycler(SPLIT_T[t][lang])
            made = 0
            while made < n:
                prev_t, text_t = cyc.next()
                if t == "phone":
                    d = gen_mobile()
                    pre = R.choice(["", "", "", "+86 "])
                    cut = R.choice([3, 7])
                    p1 = pre + (d[:3] + (" " + d[3:7] if cut == 7 else ""))
                    rest = d[cut:]
                    p2 = rest if len(rest) == 4 else R.choice([rest, rest[:4] + " " + rest[4:], rest[:4] + "-" + rest[4:]])
                    if pre:
                        # label covers only continuation; prefix is in previous
                        pass
                else:
                    d = gen_pan()
                    cut = R.choice([4, 8])
                    g = split_groups(d, pan_groups(d)) if len(d) != 15 else [d[:4], d[4:10], d[10:]]
                    if len(d) == 15:
                        cut = 4
                    p1 = " ".join(g[:1] if cut == 4 else g[:2])
                    rest = d[cut:]
                    gp = [rest[i:i + 4] for i in range(0, len(rest), 4)]
                    if len(gp[-1]) < 2:
                        gp[-2] += gp[-1]
                        gp.pop()
                    p2 = " ".join(gp)
                    if re.fullmatch(r"1[3-9]\d{9}", rest) or len(rest) >= 13 and pan_like(rest) and False:
                        continue
                previous = [x.replace("{p1}", p1) for x in prev_t]
                text = text_t.replace("{p2}", p2)
                st = text.index(p2)
                secrets = [{"type": t, "start": st, "end": st + len(p2)}]
                if text in texts and False:
                    continue
                rec = {"id": "probe", "lang": lang, "form": "split", "previous": previous, "text": text,
                       "secrets": secrets, "_fillers": []}
                if check([rec], issued_keys):
                    continue
                add(lang, "split", "split", text, secrets, [], previous=previous)
                made += 1
    return records, issued_keys, used_templates


def main():
    records, issued_keys, used_templates = build()
    errors = check(records, issued_keys)
    with open(os.path.join(HERE, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for rec in records:
            out = {k: v for k, v in rec.items() if not k.startswith("_")}
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
    with open(os.path.join(HERE, "issued-keys.txt"), "w", encoding="utf-8") as f:
        for k in issued_keys:
            f.write(k + "\n")
    # re-read and re-check what was written
    with open(os.path.join(HERE, "corpus.jsonl"), encoding="utf-8") as f:
        reread = [json.loads(line) for line in f]
    with open(os.path.join(HERE, "issued-keys.txt"), encoding="utf-8") as f:
        keys2 = [line.strip() for line in f if line.strip()]
    fill = {r["id"]: r["_fillers"] for r in records}
    for r in reread:
        r["_fillers"] = fill[r["id"]]
    errors += check(reread, keys2)
    # summary
    forms = Counter(r["form"] for r in reread)
    langs = Counter(r["lang"] for r in reread)
    per = defaultdict(Counter)
    for r in reread:
        for s in r["secrets"]:
            per[s["type"]][(r["form"], r["lang"])] += 1
    print("messages: %d  issued keys: %d" % (len(reread), len(keys2)))
    print("forms:", dict(forms))
    print("langs:", dict(langs))
    print("distinct secret templates used: zh=%d en=%d mixed=%d" % (
        len(used_templates["zh"] - set(BENIGN_T["zh"])), len(used_templates["en"] - set(BENIGN_T["en"])),
        len(used_templates["mixed"] - set(BENIGN_T["mixed"]))))
    print("distinct benign templates used: %d" % sum(len(used_templates[l] & set(BENIGN_T[l])) for l in BENIGN_T))
    print("%-20s %6s %6s %6s %6s %6s | %5s %5s %5s %5s" % ("type (spans)", "plain", "obf", "issued", "split", "total",
                                                       "p.zh", "p.en", "o.zh", "o.en"))
    for t in TYPES:
        c = per[t]
        f = lambda form: sum(v for (fo, _), v in c.items() if fo == form)
        print("%-20s %6d %6d %6d %6d %6d | %5d %5d %5d %5d" % (
            t, f("plain"), f("obfuscated"), f("issued"), f("split"), sum(c.values()),
            c[("plain", "zh")], c[("plain", "en")], c[("obfuscated", "zh")], c[("obfuscated", "en")]))
        if f("plain") < 20 or f("obfuscated") < 12 or not c[("plain", "en")] or not c[("obfuscated", "en")]:
            errors.append("quota not met for " + t)
    if errors:
        print("ERRORS (%d):" % len(errors))
        for e in errors[:60]:
            print("  ", e)
        sys.exit(1)
    print("checker: OK")


if __name__ == "__main__":
    main()
