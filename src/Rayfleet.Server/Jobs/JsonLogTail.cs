using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Rayfleet.Server.Jobs;

/// <summary>
/// Reads Ray's <c>{"logs": "..."}</c> answer as it streams in and keeps only the end of the log string, so that a
/// driver log of any size costs a bounded amount of memory. A JSON string cannot be cut in its raw form (an escape
/// may straddle the cut), so the string is decoded as it arrives and the decoded characters are cut instead.
/// </summary>
internal static class JsonLogTail
{
    private const string Key = "logs";
    private const int MaxKeyChars = 64;

    /// <summary>The last <paramref name="maxChars"/> characters of the <c>logs</c> member, and how many came before them.</summary>
    public static async Task<(string Logs, long Dropped)> ReadAsync(Stream body, int maxChars, CancellationToken cancellationToken)
    {
        var reader = new Reader(maxChars);
        var decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
        var bytes = new byte[16 * 1024];
        var chars = new char[bytes.Length + 1];
        while (true)
        {
            var n = await body.ReadAsync(bytes, cancellationToken);
            var count = decoder.GetChars(bytes, 0, n, chars, 0, flush: n == 0);
            for (var i = 0; i < count; i++) reader.Feed(chars[i]);
            if (n == 0) break;
        }
        return reader.Finish();
    }

    private enum Target
    {
        Skip,
        Key,
        Logs,
    }

    /// <summary>A small JSON tokenizer: depth, keys of the top-level object, strings with their escapes.</summary>
    private sealed class Reader(int maxChars)
    {
        private readonly StringBuilder _tail = new();
        private readonly StringBuilder _key = new();
        private long _dropped;
        private int _depth;
        private bool _started;
        private bool _expectKey;
        private bool _logsNext;
        private bool _found;
        private bool _done;
        private bool _inString;
        private Target _target;
        private int _escape; // 0 none, 1 after a backslash, 2..5 reading \uXXXX digits
        private int _unicode;
        private bool _nullLiteral;

        public void Feed(char c)
        {
            if (_inString)
            {
                String(c);
                return;
            }
            if (char.IsWhiteSpace(c)) return;
            if (!_started)
            {
                if (c != '{') throw new JsonException("Ray's logs answer is not a JSON object.");
                _started = true;
                _depth = 1;
                _expectKey = true;
                return;
            }
            if (_done && _depth == 0) throw new JsonException("Ray's logs answer continues after its object.");
            if (_logsNext)
            {
                _logsNext = false;
                if (c == '"')
                {
                    _inString = true;
                    _target = Target.Logs;
                    _found = true;
                    return;
                }
                if (c == 'n')
                {
                    _nullLiteral = true;
                    _found = true;
                    return;
                }
                throw new JsonException("Ray's 'logs' member is not a string.");
            }
            switch (c)
            {
                case '{' or '[':
                    _depth++;
                    break;
                case '}' or ']':
                    _depth--;
                    if (_depth == 0) _done = true;
                    break;
                case ',' when _depth == 1:
                    _expectKey = true;
                    break;
                case ':' when _depth == 1 && !_expectKey:
                    if (_key.ToString() == Key) _logsNext = true;
                    _key.Clear();
                    break;
                case '"':
                    _inString = true;
                    _target = _depth == 1 && _expectKey ? Target.Key : Target.Skip;
                    _expectKey = false;
                    break;
                default:
                    // Numbers and literals (the rest of a "null" too) need no decoding.
                    break;
            }
        }

        private void String(char c)
        {
            if (_escape == 1)
            {
                _escape = 0;
                switch (c)
                {
                    case 'u':
                        _escape = 2;
                        _unicode = 0;
                        return;
                    case 'b': Emit('\b'); return;
                    case 'f': Emit('\f'); return;
                    case 'n': Emit('\n'); return;
                    case 'r': Emit('\r'); return;
                    case 't': Emit('\t'); return;
                    case '"' or '\\' or '/': Emit(c); return;
                    default: throw new JsonException($"Ray's logs answer has an invalid escape '\\{c}'.");
                }
            }
            if (_escape >= 2)
            {
                if (!int.TryParse(c.ToString(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var digit))
                    throw new JsonException("Ray's logs answer has an invalid \\u escape.");
                _unicode = _unicode * 16 + digit;
                if (++_escape == 6)
                {
                    _escape = 0;
                    Emit((char)_unicode); // surrogate halves arrive one escape each and pair up in the text
                }
                return;
            }
            if (c == '\\')
            {
                _escape = 1;
                return;
            }
            if (c == '"')
            {
                _inString = false;
                return;
            }
            Emit(c);
        }

        private void Emit(char c)
        {
            switch (_target)
            {
                case Target.Key:
                    if (_key.Length < MaxKeyChars) _key.Append(c);
                    break;
                case Target.Logs:
                    _tail.Append(c);
                    if (_tail.Length >= 2 * maxChars) Cut();
                    break;
                default:
                    break;
            }
        }

        private void Cut()
        {
            var excess = _tail.Length - maxChars;
            // Never start on the second half of a surrogate pair.
            if (excess < _tail.Length && char.IsLowSurrogate(_tail[excess])) excess++;
            _tail.Remove(0, excess);
            _dropped += excess;
        }

        public (string Logs, long Dropped) Finish()
        {
            if (_inString || !_done) throw new JsonException("Ray's logs answer ended early.");
            if (!_found) throw new JsonException("Ray's logs answer has no 'logs' member.");
            if (_nullLiteral) return ("", 0);
            if (_tail.Length > maxChars) Cut();
            return (_tail.ToString(), _dropped);
        }
    }
}
