// The ssisrun script host: runs compiled Script Tasks for ssisrun, one JSON request per line on
// stdin; events and the result go back as JSON lines on stdout. Written for ssisrun.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Data;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Text;
using Microsoft.SqlServer.Dts.Runtime;
using Microsoft.SqlServer.Dts.Tasks.ScriptTask;
using SsisRun.Shim;

namespace SsisRun.ScriptHost
{
    static class Json
    {
        public static object Parse(string text) { int i = 0; object v = Value(text, ref i); return v; }

        static void Ws(string s, ref int i) { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }

        static object Value(string s, ref int i)
        {
            Ws(s, ref i);
            if (i >= s.Length) throw new FormatException("unexpected end of JSON");
            char c = s[i];
            if (c == '{')
            {
                var d = new Dictionary<string, object>();
                i++; Ws(s, ref i);
                if (s[i] == '}') { i++; return d; }
                while (true)
                {
                    Ws(s, ref i);
                    string k = Str(s, ref i);
                    Ws(s, ref i); i++; // ':'
                    d[k] = Value(s, ref i);
                    Ws(s, ref i);
                    if (s[i] == ',') { i++; continue; }
                    i++; return d; // '}'
                }
            }
            if (c == '[')
            {
                var l = new List<object>();
                i++; Ws(s, ref i);
                if (s[i] == ']') { i++; return l; }
                while (true)
                {
                    l.Add(Value(s, ref i));
                    Ws(s, ref i);
                    if (s[i] == ',') { i++; continue; }
                    i++; return l;
                }
            }
            if (c == '"') return Str(s, ref i);
            if (s.Substring(i).StartsWith("true")) { i += 4; return true; }
            if (s.Substring(i).StartsWith("false")) { i += 5; return false; }
            if (s.Substring(i).StartsWith("null")) { i += 4; return null; }
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            string num = s.Substring(start, i - start);
            long l64;
            if (long.TryParse(num, NumberStyles.Integer, CultureInfo.InvariantCulture, out l64)) return l64;
            return double.Parse(num, NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        static string Str(string s, ref int i)
        {
            var b = new StringBuilder();
            i++;
            while (s[i] != '"')
            {
                char c = s[i++];
                if (c != '\\') { b.Append(c); continue; }
                char e = s[i++];
                switch (e)
                {
                    case 'n': b.Append('\n'); break;
                    case 'r': b.Append('\r'); break;
                    case 't': b.Append('\t'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'u': b.Append((char)Convert.ToInt32(s.Substring(i, 4), 16)); i += 4; break;
                    default: b.Append(e); break;
                }
            }
            i++;
            return b.ToString();
        }

        public static string Quote(string s)
        {
            var b = new StringBuilder("\"");
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (c < ' ' || c > '~') b.Append("\\u").Append(((int)c).ToString("x4"));
                        else b.Append(c);
                        break;
                }
            }
            return b.Append('"').ToString();
        }

        public static string Write(object v)
        {
            if (v == null) return "null";
            if (v is string) return Quote((string)v);
            if (v is bool) return (bool)v ? "true" : "false";
            if (v is double || v is float)
            {
                double d = Convert.ToDouble(v);
                if (double.IsNaN(d) || double.IsInfinity(d)) return Quote(d.ToString(CultureInfo.InvariantCulture));
                return d.ToString("R", CultureInfo.InvariantCulture);
            }
            if (v is IConvertible && (v is int || v is long || v is short || v is byte || v is sbyte
                || v is ushort || v is uint || v is ulong))
                return Convert.ToString(v, CultureInfo.InvariantCulture);
            var dict = v as IDictionary<string, object>;
            if (dict != null)
            {
                var b = new StringBuilder("{");
                bool first = true;
                foreach (var kv in dict)
                {
                    if (!first) b.Append(',');
                    first = false;
                    b.Append(Quote(kv.Key)).Append(':').Append(Write(kv.Value));
                }
                return b.Append('}').ToString();
            }
            var list = v as IEnumerable;
            if (list != null)
            {
                var b = new StringBuilder("[");
                bool first = true;
                foreach (object item in list)
                {
                    if (!first) b.Append(',');
                    first = false;
                    b.Append(Write(item));
                }
                return b.Append(']').ToString();
            }
            return Quote(Convert.ToString(v, CultureInfo.InvariantCulture));
        }
    }

    class Sink : IScriptEventSink
    {
        public void Event(string kind, int code, string subComponent, string description, int percent)
        {
            var e = new Dictionary<string, object>();
            e["kind"] = kind; e["code"] = code; e["subComponent"] = subComponent ?? "";
            e["description"] = description ?? ""; e["percent"] = percent;
            var line = new Dictionary<string, object>();
            line["event"] = e;
            Program.Send(line);
        }

        public bool QueryCancel() { return false; }
    }

    static class Program
    {
        static TextWriter protocol;
        static readonly Dictionary<string, Assembly> loaded = new Dictionary<string, Assembly>();
        static readonly Dictionary<long, object> handles = new Dictionary<long, object>();
        static long nextHandle = 1;
        const string IsoFormat = "yyyy-MM-ddTHH:mm:ss.fffffff";

        public static void Send(object message)
        {
            protocol.Write(Json.Write(message));
            protocol.Write('\n');
            protocol.Flush();
        }

        static int Main(string[] args)
        {
            var utf8 = new UTF8Encoding(false);
            protocol = new StreamWriter(Console.OpenStandardOutput(), utf8);
            var input = new StreamReader(Console.OpenStandardInput(), utf8);
            AppDomain.CurrentDomain.AssemblyResolve += Resolve;
            Send(Hello());
            string line;
            while ((line = input.ReadLine()) != null)
            {
                if (line.Trim().Length == 0) continue;
                Dictionary<string, object> done;
                try
                {
                    done = Run((Dictionary<string, object>)Json.Parse(line));
                }
                catch (Exception ex)
                {
                    done = new Dictionary<string, object>();
                    done["hostError"] = ex.GetType().FullName + ": " + ex.Message;
                }
                var answer = new Dictionary<string, object>();
                answer["done"] = done;
                Send(answer);
            }
            return 0;
        }

        static Dictionary<string, object> Hello()
        {
            var hello = new Dictionary<string, object>();
            hello["ready"] = true;
            return hello;
        }

        static Assembly Resolve(object sender, ResolveEventArgs args)
        {
            string name = new AssemblyName(args.Name).Name;
            string target = null;
            if (name == "Microsoft.SqlServer.ManagedDTS" || name.StartsWith("Microsoft.SqlServer.DTSRuntimeWrap"))
                target = "Microsoft.SqlServer.ManagedDTS";
            else if (name == "Microsoft.SqlServer.ScriptTask") target = "Microsoft.SqlServer.ScriptTask";
            else if (name == "System.AddIn" || name == "System.Windows.Forms" || name == "SsisRun.Headless")
                target = "SsisRun.Headless";
            foreach (Assembly a in AppDomain.CurrentDomain.GetAssemblies())
                if (a.GetName().Name == (target ?? name)) return a;
            if (target != null)
            {
                string here = Path.GetDirectoryName(typeof(Program).Assembly.Location);
                return Assembly.LoadFrom(Path.Combine(here, target + ".dll"));
            }
            return null;
        }

        static string S(Dictionary<string, object> d, string key)
        {
            object v;
            return d.TryGetValue(key, out v) && v != null ? Convert.ToString(v, CultureInfo.InvariantCulture) : null;
        }

        // ------------------------------------------------------------------ values

        static object In(string type, object v)
        {
            if (type == "Object" || type == "Empty") return InObject(v);
            if (v == null) return type == "DBNull" ? (object)DBNull.Value : null;
            switch (type)
            {
                case "Boolean": return Convert.ToBoolean(v);
                case "Byte": return Convert.ToByte(v);
                case "SByte": return Convert.ToSByte(v);
                case "Int16": return Convert.ToInt16(v);
                case "UInt16": return Convert.ToUInt16(v);
                case "Int32": return Convert.ToInt32(v);
                case "UInt32": return Convert.ToUInt32(v);
                case "Int64": return Convert.ToInt64(v);
                case "UInt64": return Convert.ToUInt64(v, CultureInfo.InvariantCulture);
                case "Single": return Convert.ToSingle(v, CultureInfo.InvariantCulture);
                case "Double": return Convert.ToDouble(v, CultureInfo.InvariantCulture);
                case "Decimal": return decimal.Parse(Convert.ToString(v, CultureInfo.InvariantCulture), NumberStyles.Float, CultureInfo.InvariantCulture);
                case "DateTime": return DateTime.Parse((string)v, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
                case "Char": return Convert.ToString(v)[0];
                default: return Convert.ToString(v, CultureInfo.InvariantCulture);
            }
        }

        static object InObject(object v)
        {
            var d = v as Dictionary<string, object>;
            if (d != null)
            {
                object inner;
                if (d.TryGetValue("$list", out inner))
                {
                    var list = new ArrayList();
                    foreach (object item in (List<object>)inner) list.Add(InObject(item));
                    return list;
                }
                if (d.TryGetValue("$table", out inner)) return InTable((Dictionary<string, object>)inner);
                if (d.TryGetValue("$datetime", out inner))
                    return DateTime.Parse((string)inner, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
                if (d.TryGetValue("$decimal", out inner))
                    return decimal.Parse((string)inner, NumberStyles.Float, CultureInfo.InvariantCulture);
                if (d.TryGetValue("$handle", out inner))
                {
                    object kept;
                    return handles.TryGetValue(Convert.ToInt64(inner), out kept) ? kept : null;
                }
                return null;
            }
            var l = v as List<object>;
            if (l != null)
            {
                var list = new ArrayList();
                foreach (object item in l) list.Add(InObject(item));
                return list;
            }
            return v;
        }

        static Type ClrType(string name)
        {
            switch (name)
            {
                case "Boolean": return typeof(bool);
                case "Int32": return typeof(int);
                case "Int64": return typeof(long);
                case "Double": return typeof(double);
                case "Decimal": return typeof(decimal);
                case "DateTime": return typeof(DateTime);
                case "String": return typeof(string);
                default: return typeof(object);
            }
        }

        static DataTable InTable(Dictionary<string, object> t)
        {
            var table = new DataTable(S(t, "name") ?? "Table");
            var types = new List<string>();
            foreach (Dictionary<string, object> c in (List<object>)t["columns"])
            {
                string type = S(c, "type") ?? "Object";
                types.Add(type);
                table.Columns.Add(S(c, "name"), ClrType(type));
            }
            foreach (List<object> row in (List<object>)t["rows"])
            {
                object[] values = new object[row.Count];
                for (int i = 0; i < row.Count; i++)
                {
                    string type = i < types.Count ? types[i] : "Object";
                    values[i] = row[i] == null ? (object)DBNull.Value
                        : (type == "Object" ? InObject(row[i]) : In(type, row[i]));
                }
                table.Rows.Add(values);
            }
            return table;
        }

        static object Out(object v)
        {
            if (v == null || v is DBNull) return null;
            if (v is string || v is bool || v is int || v is long || v is short || v is byte || v is sbyte
                || v is ushort || v is uint || v is ulong || v is double || v is float)
                return v;
            if (v is char) return v.ToString();
            var tagged = new Dictionary<string, object>();
            if (v is decimal) { tagged["$decimal"] = ((decimal)v).ToString(CultureInfo.InvariantCulture); return tagged; }
            if (v is DateTime) { tagged["$datetime"] = ((DateTime)v).ToString(IsoFormat, CultureInfo.InvariantCulture); return tagged; }
            if (v is DataTable) { tagged["$table"] = OutTable((DataTable)v); return tagged; }
            if (v is DataSet && ((DataSet)v).Tables.Count > 0)
            {
                tagged["$table"] = OutTable(((DataSet)v).Tables[0]);
                return tagged;
            }
            if (v is IList)
            {
                var items = new List<object>();
                foreach (object item in (IList)v) items.Add(Out(item));
                tagged["$list"] = items;
                return tagged;
            }
            long handle = nextHandle++;
            handles[handle] = v;
            tagged["$handle"] = handle;
            tagged["type"] = v.GetType().FullName;
            return tagged;
        }

        static string TypeName(Type t)
        {
            if (t == typeof(bool)) return "Boolean";
            if (t == typeof(int) || t == typeof(short) || t == typeof(byte)) return "Int32";
            if (t == typeof(long)) return "Int64";
            if (t == typeof(double) || t == typeof(float)) return "Double";
            if (t == typeof(decimal)) return "Decimal";
            if (t == typeof(DateTime)) return "DateTime";
            if (t == typeof(string)) return "String";
            return "Object";
        }

        static Dictionary<string, object> OutTable(DataTable table)
        {
            var result = new Dictionary<string, object>();
            result["name"] = table.TableName;
            var columns = new List<object>();
            foreach (DataColumn c in table.Columns)
            {
                var col = new Dictionary<string, object>();
                col["name"] = c.ColumnName;
                col["type"] = TypeName(c.DataType);
                columns.Add(col);
            }
            result["columns"] = columns;
            var rows = new List<object>();
            foreach (DataRow r in table.Rows)
            {
                if (r.RowState == DataRowState.Deleted) continue;
                var row = new List<object>();
                foreach (object item in r.ItemArray) row.Add(Out(item));
                rows.Add(row);
            }
            result["rows"] = rows;
            return result;
        }

        static object OutTyped(Variable v)
        {
            object value = v.Value;
            if (v.DataType == TypeCode.Object || v.DataType == TypeCode.Empty) return Out(value);
            if (value == null || value is DBNull) return null;
            if (value is decimal) return ((decimal)value).ToString(CultureInfo.InvariantCulture);
            if (value is DateTime) return ((DateTime)value).ToString(IsoFormat, CultureInfo.InvariantCulture);
            if (value is char) return value.ToString();
            return value;
        }

        // ------------------------------------------------------------------ connections

        static object Acquire(string kind, string text)
        {
            switch (kind)
            {
                case "sqlclient":
                {
                    var c = new System.Data.SqlClient.SqlConnection(text);
                    c.Open();
                    return c;
                }
                case "sqlite":
                {
                    Assembly a = Assembly.Load("Mono.Data.Sqlite, Version=4.0.0.0, Culture=neutral, PublicKeyToken=0738eb9f132ed756");
                    var c = (IDbConnection)Activator.CreateInstance(a.GetType("Mono.Data.Sqlite.SqliteConnection"), text);
                    c.Open();
                    return c;
                }
                case "path":
                case "string":
                    return text;
                default:
                    throw new DtsRuntimeException(text);
            }
        }

        // ------------------------------------------------------------------ running

        static Assembly Load(string path, bool binary)
        {
            Assembly a;
            if (loaded.TryGetValue(path, out a)) return a;
            a = binary ? Assembly.Load(File.ReadAllBytes(path)) : Assembly.LoadFrom(path);
            loaded[path] = a;
            return a;
        }

        static Type FindScriptMain(Assembly a, string className)
        {
            Type[] types;
            try { types = a.GetTypes(); }
            catch (ReflectionTypeLoadException ex) { types = Array.FindAll(ex.Types, t => t != null); }
            foreach (Type t in types)
                foreach (object attr in t.GetCustomAttributes(false))
                {
                    string n = attr.GetType().Name;
                    if (n == "SSISScriptTaskEntryPointAttribute" || n == "AddInAttribute") return t;
                }
            foreach (Type t in types) if (t.Name == className) return t;
            foreach (Type t in types) if (typeof(VSTARTScriptObjectModelBase).IsAssignableFrom(t)) return t;
            return null;
        }

        static Dictionary<string, object> Run(Dictionary<string, object> request)
        {
            var done = new Dictionary<string, object>();
            var map = new List<KeyValuePair<string, string>>();
            object mapObj;
            if (request.TryGetValue("pathMap", out mapObj) && mapObj != null)
                foreach (List<object> pair in (List<object>)mapObj)
                    map.Add(new KeyValuePair<string, string>((string)pair[0], (string)pair[1]));
            HostServices.SetPathMap(map);

            Variables all = HostServices.NewVariables();
            var writable = new List<Variable>();
            foreach (Dictionary<string, object> v in (List<object>)request["variables"])
            {
                string access = S(v, "access");
                string type = S(v, "type");
                TypeCode code;
                if (!Enum.TryParse(type, out code)) code = TypeCode.Object;
                object value = In(type, v.ContainsKey("value") ? v["value"] : null);
                Variable made = HostServices.AddVariable(all, S(v, "ns"), S(v, "name"), code, value,
                                                         access == "write", access != "dispenser");
                if (access == "write") writable.Add(made);
            }
            Connections connections = HostServices.NewConnections();
            foreach (Dictionary<string, object> c in (List<object>)request["connections"])
            {
                ConnectionManager cm = HostServices.AddConnection(connections, S(c, "name"),
                    S(c, "creationName"), S(c, "id"), S(c, "connectionString"), S(c, "description"));
                string kind = S(c, "acquire") ?? "string";
                string target = S(c, "acquireValue") ?? cm.ConnectionString;
                cm.Acquire = m => Acquire(kind, target);
            }
            var sink = new Sink();
            var dts = new ScriptObjectModel(HostServices.VisibleOnly(all), HostServices.NewDispenser(all),
                                            connections, sink);
            SsisRun.Headless.Sink.MessageBox = (caption, text) => sink.Event("MessageBox", 0, caption, text, 0);

            TextWriter savedOut = Console.Out;
            var console = new StringWriter();
            Console.SetOut(console);
            try
            {
                Assembly assembly = Load(S(request, "assembly"), S(request, "binary") == "True");
                string entry = S(request, "entryPoint") ?? "ScriptMain.Main";
                int dot = entry.LastIndexOf('.');
                string className = dot > 0 ? entry.Substring(0, dot) : "ScriptMain";
                string method = dot > 0 ? entry.Substring(dot + 1) : entry;
                Type main = FindScriptMain(assembly, className);
                if (main == null)
                {
                    done["loadError"] = "the assembly has no ScriptMain class";
                    return done;
                }
                object instance = Activator.CreateInstance(main);
                var based = instance as VSTARTScriptObjectModelBase;
                if (based != null) based.SsisRunAttach(dts);
                MethodInfo m = main.GetMethod(method, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance,
                                              null, Type.EmptyTypes, null);
                if (m == null)
                {
                    done["loadError"] = "ScriptMain has no method " + method + "()";
                    return done;
                }
                try
                {
                    m.Invoke(instance, null);
                }
                catch (TargetInvocationException ex)
                {
                    Exception inner = ex.InnerException ?? ex;
                    var e = new Dictionary<string, object>();
                    e["type"] = inner.GetType().FullName;
                    e["message"] = inner.Message;
                    e["text"] = inner.ToString();
                    done["exception"] = e;
                }
            }
            finally
            {
                Console.Out.Flush();
                Console.SetOut(savedOut);
                SsisRun.Headless.Sink.MessageBox = null;
            }
            done["taskResult"] = dts.TaskResult;
            done["executionValue"] = Out(dts.ExecutionValue);
            done["console"] = console.ToString();
            var changed = new List<object>();
            foreach (Variable v in writable)
            {
                if (!v.Written) continue;
                var item = new Dictionary<string, object>();
                item["ns"] = v.Namespace;
                item["name"] = v.Name;
                item["value"] = OutTyped(v);
                changed.Add(item);
            }
            done["variables"] = changed;
            return done;
        }
    }
}
