//! Generated from `THREAT_PATTERNS` by `starting_literals` (the test
//! `the_gate_table_is_what_the_patterns_give` prints it anew when they change).
//! Extracting them costs 65 M instructions at the first check of a process;
//! reading them costs nothing.

/// Per threat pattern, the lower-cased literals every match starts with, or
/// `None` when the pattern always runs.
#[rustfmt::skip]
pub(super) const GATE_LITERALS: &[Option<&[&[u8]]>] = &[
    Some(&[b"and", b"or", ]), // 0
    Some(&[b"\'", ]), // 1
    Some(&[b"union", ]), // 2
    Some(&[b";\t", b"; ", b";delete", b";drop", b";shutdown", b";truncate", b";\xc5\xbfhutdown", ]), // 3
    Some(&[b"\"", b"\'", ]), // 4
    None, // 5
    Some(&[b"exec", b"execute", b"xp_cmdshell", b"xp_cmd\xc5\xbfhell", ]), // 6
    Some(&[b"\"", b"\'", b")", b";", b"and", b"benchmark", b"benchmar\xe2\x84\xaa", b"or", b"pg_sleep", b"pg_\xc5\xbfleep", b"select", b"waitfor", b"\xc5\xbfelect", ]), // 7
    Some(&[b"into", b"load_file", ]), // 8
    None, // 9
    Some(&[b"</script", b"<script", ]), // 10
    Some(&[b"<", ]), // 11
    Some(&[b"\"", b"\'", b"(", b"=", b"`", b"java\t", b"java\n", b"java\r", b"javascript", b"java\xc5\xbfcript", b"livescript", b"live\xc5\xbfcript", b"vbscript", b"vb\xc5\xbfcript", ]), // 12
    Some(&[b"data:", ]), // 13
    Some(&[b"\"", b"\";", b"\'", b"\';", b"`", b"alert", b"confirm", b"eval", b"function", b"prompt", b"settimeout", b"\xc5\xbfettimeout", ]), // 14
    Some(&[b"ignore", ]), // 15
    Some(&[b"ignore", ]), // 16
    Some(&[b"disregard", b"di\xc5\xbfregard", ]), // 17
    Some(&[b"forget", ]), // 18
    Some(&[b"you", ]), // 19
    Some(&[b"act", b"activate", b"do", b"enable", b"enter", b"pretend", b"you", ]), // 20
    Some(&[b"new", b"override", ]), // 21
    Some(&[b"disclose", b"disclo\xc5\xbfe", b"display", b"di\xc5\xbfclose", b"di\xc5\xbfclo\xc5\xbfe", b"di\xc5\xbfplay", b"dump", b"expose", b"expo\xc5\xbfe", b"give", b"leak", b"lea\xe2\x84\xaa", b"output", b"print", b"recite", b"repeat", b"reveal", b"show", b"spell", b"tell", b"write", b"\xc5\xbfhow", b"\xc5\xbfpell", ]), // 22
    Some(&[b"disclose", b"disclo\xc5\xbfe", b"di\xc5\xbfclose", b"di\xc5\xbfclo\xc5\xbfe", b"expose", b"expo\xc5\xbfe", b"leak", b"lea\xe2\x84\xaa", b"output", b"print", b"recite", b"repeat", b"reveal", b"what", ]), // 23
    Some(&[b"<</sys>>", b"<</sy\xc5\xbf>>", b"<</\xc5\xbfys>>", b"<</\xc5\xbfy\xc5\xbf>>", b"<<sys>>", b"<<sy\xc5\xbf>>", b"<<\xc5\xbfys>>", b"<<\xc5\xbfy\xc5\xbf>>", b"<|", b"<\xef\xbd\x9c", b"[/inst]", b"[/in\xc5\xbft]", b"[inst]", b"[in\xc5\xbft]", ]), // 24
    Some(&[b"\t", b" ", b"#", ]), // 25
    None, // 26
];
