// ssisrun's stand-in for Microsoft.SqlServer.ManagedDTS: the part of SSIS's run-time object
// model that Script Tasks use (Variables, Connections, events, the variable dispenser).
// Written for ssisrun; only the public names and signatures follow Microsoft's documentation.
using System;
using System.Collections;
using System.Collections.Generic;
using System.ComponentModel;
using System.Reflection;

[assembly: AssemblyTitle("ssisrun stand-in for Microsoft.SqlServer.ManagedDTS")]
[assembly: AssemblyVersion("16.0.0.0")]

namespace Microsoft.SqlServer.Dts.Runtime
{
    public enum DTSExecResult { Success = 0, Failure = 1, Completion = 2, Canceled = 3 }
    public enum DTSForcedExecResult { None = -1, Success = 0, Failure = 1, Completion = 2 }

    public class DtsException : Exception
    {
        public DtsException() { }
        public DtsException(string message) : base(message) { }
        public DtsException(string message, Exception inner) : base(message, inner) { }
        public int ErrorCode { get { return HResult; } }
    }

    public class DtsRuntimeException : DtsException
    {
        public DtsRuntimeException() { }
        public DtsRuntimeException(string message) : base(message) { }
        public DtsRuntimeException(string message, Exception inner) : base(message, inner) { }
    }

    public class DtsComException : DtsException
    {
        public DtsComException(string message) : base(message) { }
    }

    public class Variable
    {
        object value;
        readonly bool writable;

        internal Variable(string ns, string name, TypeCode type, object value, bool writable,
                          bool visible)
        {
            Namespace = ns; Name = name; DataType = type; this.value = value;
            this.writable = writable; Visible = visible;
            Description = ""; Expression = ""; ID = "{" + Guid.NewGuid().ToString().ToUpper() + "}";
        }

        public string Name { get; private set; }
        public string Namespace { get; private set; }
        public string QualifiedName { get { return Namespace + "::" + Name; } }
        public TypeCode DataType { get; private set; }
        public string Description { get; set; }
        public string Expression { get; set; }
        public bool EvaluateAsExpression { get; set; }
        public bool RaiseChangedEvent { get; set; }
        public bool IncludeInDebugDump { get; set; }
        public string ID { get; private set; }
        public string CreationName { get { return ""; } }
        public bool ReadOnly { get { return !writable; } set { } }
        public bool SystemVariable { get { return Namespace == "System"; } }
        /// <summary>True once the script assigned Value.</summary>
        [EditorBrowsable(EditorBrowsableState.Never)]
        public bool Written { get; private set; }
        internal bool Visible { get; private set; }

        public object Value
        {
            get { return value; }
            set
            {
                if (!writable)
                    throw new DtsRuntimeException("The variable \"" + QualifiedName + "\" is read-only "
                        + "(it is in the task's ReadOnlyVariables; list it in ReadWriteVariables to change it).");
                this.value = Coerce(value);
                Written = true;
            }
        }

        object Coerce(object v)
        {
            if (DataType == TypeCode.Object || DataType == TypeCode.Empty || v == null)
                return v;
            if (v is DBNull) return v;
            if (Type.GetTypeCode(v.GetType()) == DataType) return v;
            throw new DtsRuntimeException("The type of the value (" + v.GetType().Name
                + ") being assigned to variable \"" + QualifiedName + "\" differs from the current "
                + "variable type (" + DataType + "). Variables may not change type during execution. "
                + "Variable types are strict, except for variables of type Object.");
        }

        public object GetSensitiveValue() { return value; }
        public void SetSensitiveValue(object v) { Value = v; }
        public override string ToString() { return QualifiedName; }
    }

    public abstract class DtsEnumerator : IEnumerator
    {
        readonly IList items;
        int index = -1;
        protected DtsEnumerator(IList items) { this.items = items; }
        public object Current
        {
            get
            {
                if (index < 0 || index >= items.Count) throw new InvalidOperationException();
                return items[index];
            }
        }
        public bool MoveNext() { index++; return index < items.Count; }
        public void Reset() { index = -1; }
    }

    public class VariableEnumerator : DtsEnumerator
    {
        internal VariableEnumerator(IList items) : base(items) { }
        public new Variable Current { get { return (Variable)base.Current; } }
    }

    public class ConnectionEnumerator : DtsEnumerator
    {
        internal ConnectionEnumerator(IList items) : base(items) { }
        public new ConnectionManager Current { get { return (ConnectionManager)base.Current; } }
    }

    public abstract class DTSReadOnlyCollectionBase : ICollection, IEnumerable
    {
        internal readonly ArrayList Items = new ArrayList();
        public int Count { get { return Items.Count; } }
        public bool IsSynchronized { get { return false; } }
        public object SyncRoot { get { return Items; } }
        public void CopyTo(Array array, int index) { Items.CopyTo(array, index); }
        IEnumerator IEnumerable.GetEnumerator() { return Items.GetEnumerator(); }
    }

    public class Variables : DTSReadOnlyCollectionBase
    {
        bool locked = true;

        internal Variables() { }
        internal void Add(Variable v) { Items.Add(v); }

        public bool Locked { get { return locked; } }
        public void Unlock() { locked = false; }

        public Variable this[object index]
        {
            get
            {
                Variable v = Find(index);
                if (v == null)
                    throw new DtsRuntimeException("Failed to lock variable \"" + index + "\" for read "
                        + "access with error 0xC0010001 \"The variable cannot be found. This occurs when an "
                        + "attempt is made to retrieve a variable from the Variables collection on a "
                        + "container during execution of the package, and the variable is not there.\" "
                        + "(list it in the Script task's ReadOnlyVariables or ReadWriteVariables)");
                return v;
            }
        }

        internal Variable Find(object index)
        {
            if (index is int || index is long || index is short)
            {
                int i = Convert.ToInt32(index);
                return i >= 0 && i < Items.Count ? (Variable)Items[i] : null;
            }
            string key = Convert.ToString(index);
            if (key == null) return null;
            key = key.Trim();
            if (key.StartsWith("@[") && key.EndsWith("]")) key = key.Substring(2, key.Length - 3);
            Variable plain = null;
            foreach (Variable v in Items)
            {
                if (string.Equals(v.QualifiedName, key, StringComparison.Ordinal)) return v;
                if (string.Equals(v.ID, key, StringComparison.OrdinalIgnoreCase)) return v;
                if (!key.Contains("::") && v.Name == key && !v.Namespace.StartsWith("$"))
                {
                    if (plain == null || (v.Namespace == "User" && plain.Namespace != "User")) plain = v;
                }
            }
            return plain;
        }

        public bool Contains(object index) { return Find(index) != null; }

        public VariableEnumerator GetEnumerator() { return new VariableEnumerator(Items); }
    }

    public class VariableDispenser
    {
        readonly Variables all;
        readonly List<Variable> pending = new List<Variable>();

        internal VariableDispenser(Variables all) { this.all = all; }

        void Lock(string names)
        {
            foreach (string part in (names ?? "").Split(new[] { ',', ';' }, StringSplitOptions.RemoveEmptyEntries))
            {
                Variable v = all.Find(part.Trim());
                if (v == null)
                    throw new DtsRuntimeException("The variable \"" + part.Trim() + "\" cannot be found "
                        + "in the scope of the task.");
                if (!pending.Contains(v)) pending.Add(v);
            }
        }

        public void LockForRead(string variable) { Lock(variable); }
        public void LockForWrite(string variable) { Lock(variable); }
        public void LockOneForRead(string variable, ref Variables variables) { Reset(); Lock(variable); GetVariables(ref variables); }
        public void LockOneForWrite(string variable, ref Variables variables) { Reset(); Lock(variable); GetVariables(ref variables); }

        public void GetVariables(ref Variables variables)
        {
            Variables result = new Variables();
            foreach (Variable v in pending) result.Add(v);
            pending.Clear();
            variables = result;
        }

        public bool Contains(string variable) { return all.Find(variable) != null; }
        public void Reset() { pending.Clear(); }
        public string GetQualifiedName(string variable)
        {
            Variable v = all.Find(variable);
            if (v == null) throw new DtsRuntimeException("The variable \"" + variable + "\" cannot be found.");
            return v.QualifiedName;
        }
    }

    public interface IDTSComponentEvents
    {
        void FireBreakpointHit(object breakpointTarget);
        void FireCustomEvent(string eventName, string eventText, ref object[] arguments,
                             string subComponent, ref bool fireAgain);
        bool FireError(int errorCode, string subComponent, string description, string helpFile,
                       int helpContext);
        void FireInformation(int informationCode, string subComponent, string description,
                             string helpFile, int helpContext, ref bool fireAgain);
        void FireProgress(string progressDescription, int percentComplete, int progressCountLow,
                          int progressCountHigh, string subComponent, ref bool fireAgain);
        bool FireQueryCancel();
        void FireWarning(int warningCode, string subComponent, string description, string helpFile,
                         int helpContext);
    }

    public class ConnectionManager
    {
        internal ConnectionManager(string name, string creationName, string id, string text,
                                   string description)
        {
            Name = name; CreationName = creationName; ID = id; ConnectionString = text;
            Description = description ?? "";
            Properties = new Hashtable();
        }

        public string Name { get; set; }
        public string CreationName { get; private set; }
        public string ID { get; private set; }
        public string ConnectionString { get; set; }
        public string Description { get; set; }
        public bool DelayValidation { get; set; }
        public bool SupportsDTCTransactions { get { return false; } }
        public Hashtable Properties { get; private set; }
        public object InnerObject { get { return null; } }

        /// <summary>What AcquireConnection gives on this machine (set by the host).</summary>
        [EditorBrowsable(EditorBrowsableState.Never)]
        public Func<ConnectionManager, object> Acquire { get; set; }

        public object AcquireConnection(object txn)
        {
            if (Acquire == null)
                throw new DtsRuntimeException("AcquireConnection is not available for the connection manager \""
                    + Name + "\" (" + CreationName + ") on this machine.");
            return Acquire(this);
        }

        public void ReleaseConnection(object connection)
        {
            IDisposable d = connection as IDisposable;
            if (d != null) d.Dispose();
        }

        public override string ToString() { return Name; }
    }

    public class Connections : DTSReadOnlyCollectionBase
    {
        internal Connections() { }
        internal void AddItem(ConnectionManager cm) { Items.Add(cm); }

        public ConnectionManager this[object index]
        {
            get
            {
                ConnectionManager cm = Find(index);
                if (cm == null)
                    throw new DtsRuntimeException("The connection \"" + index + "\" is not found. This error "
                        + "is thrown by Connections collection when the specific connection element is not found.");
                return cm;
            }
        }

        ConnectionManager Find(object index)
        {
            if (index is int)
            {
                int i = (int)index;
                return i >= 0 && i < Items.Count ? (ConnectionManager)Items[i] : null;
            }
            string key = Convert.ToString(index);
            foreach (ConnectionManager cm in Items)
                if (string.Equals(cm.Name, key, StringComparison.OrdinalIgnoreCase)
                    || string.Equals(cm.ID, key, StringComparison.OrdinalIgnoreCase))
                    return cm;
            return null;
        }

        public bool Contains(object index) { return Find(index) != null; }

        public ConnectionManager Add(string clsid)
        {
            throw new DtsRuntimeException("Scripts cannot add connection managers in ssisrun (Connections.Add(\""
                + clsid + "\")).");
        }

        public void Remove(object index)
        {
            ConnectionManager cm = Find(index);
            if (cm != null) Items.Remove(cm);
        }

        public ConnectionEnumerator GetEnumerator() { return new ConnectionEnumerator(Items); }
    }
}

namespace SsisRun.Shim
{
    using Microsoft.SqlServer.Dts.Runtime;

    /// <summary>What the ssisrun script host uses to build the object model.</summary>
    public static class HostServices
    {
        static readonly List<KeyValuePair<string, string>> pathMap = new List<KeyValuePair<string, string>>();

        public static Variables NewVariables() { return new Variables(); }

        public static Variable AddVariable(Variables to, string ns, string name, TypeCode type,
                                           object value, bool writable, bool visible)
        {
            Variable v = new Variable(ns, name, type, value, writable, visible);
            to.Add(v);
            return v;
        }

        public static Variables VisibleOnly(Variables all)
        {
            Variables result = new Variables();
            foreach (Variable v in all) if (v.Visible) result.Add(v);
            return result;
        }

        public static VariableDispenser NewDispenser(Variables all) { return new VariableDispenser(all); }
        public static Connections NewConnections() { return new Connections(); }

        public static ConnectionManager AddConnection(Connections to, string name, string creationName,
                                                      string id, string text, string description)
        {
            ConnectionManager cm = new ConnectionManager(name, creationName, id, text, description);
            to.AddItem(cm);
            return cm;
        }

        public static void SetPathMap(IEnumerable<KeyValuePair<string, string>> map)
        {
            pathMap.Clear();
            pathMap.AddRange(map);
        }

        /// <summary>A Windows path as a path on this machine, with ssisrun's --path-map.</summary>
        public static string MapPath(string path)
        {
            if (path == null) return null;
            foreach (KeyValuePair<string, string> entry in pathMap)
            {
                if (path.StartsWith(entry.Key, StringComparison.OrdinalIgnoreCase))
                {
                    string rest = path.Substring(entry.Key.Length).Replace('\\', '/');
                    if (rest.Length == 0) return entry.Value;
                    return entry.Value.TrimEnd('/') + "/" + rest.TrimStart('/');
                }
            }
            if (path.Length >= 2 && path[1] == ':' && char.IsLetter(path[0]))
                return "/" + path.Substring(2).Replace('\\', '/').TrimStart('/');
            if (path.Contains("\\") && !path.StartsWith("\\\\")) return path.Replace('\\', '/');
            return path;
        }
    }
}
