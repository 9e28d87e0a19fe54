// ssisrun's stand-in for Microsoft.SqlServer.ScriptTask: the Dts object of a Script Task.
// Written for ssisrun; only the public names and signatures follow Microsoft's documentation.
using System;
using System.ComponentModel;
using System.Reflection;
using Microsoft.SqlServer.Dts.Runtime;

[assembly: AssemblyTitle("ssisrun stand-in for Microsoft.SqlServer.ScriptTask")]
[assembly: AssemblyVersion("16.0.0.0")]

namespace Microsoft.SqlServer.Dts.Tasks.ScriptTask
{
    /// <summary>Where the events of a script go (the ssisrun script host).</summary>
    public interface IScriptEventSink
    {
        void Event(string kind, int code, string subComponent, string description, int percent);
        bool QueryCancel();
    }

    /// <summary>The type of Dts.Events.</summary>
    public class EventsObjectWrapper : IDTSComponentEvents
    {
        readonly IScriptEventSink sink;

        [EditorBrowsable(EditorBrowsableState.Never)]
        public EventsObjectWrapper(IScriptEventSink sink) { this.sink = sink; }

        public void FireBreakpointHit(object breakpointTarget) { }

        public void FireCustomEvent(string eventName, string eventText, ref object[] arguments,
                                    string subComponent, ref bool fireAgain)
        {
            sink.Event("Custom:" + eventName, 0, subComponent, eventText, 0);
        }

        public bool FireError(int errorCode, string subComponent, string description, string helpFile,
                              int helpContext)
        {
            sink.Event("Error", errorCode, subComponent, description, 0);
            return false;
        }

        public void FireInformation(int informationCode, string subComponent, string description,
                                    string helpFile, int helpContext, ref bool fireAgain)
        {
            sink.Event("Information", informationCode, subComponent, description, 0);
        }

        public void FireProgress(string progressDescription, int percentComplete, int progressCountLow,
                                 int progressCountHigh, string subComponent, ref bool fireAgain)
        {
            sink.Event("Progress", 0, subComponent, progressDescription, percentComplete);
        }

        public bool FireQueryCancel() { return sink.QueryCancel(); }

        public void FireWarning(int warningCode, string subComponent, string description, string helpFile,
                                int helpContext)
        {
            sink.Event("Warning", warningCode, subComponent, description, 0);
        }
    }

    /// <summary>The Dts object.</summary>
    public class ScriptObjectModel
    {
        readonly IScriptEventSink sink;

        [EditorBrowsable(EditorBrowsableState.Never)]
        public ScriptObjectModel(Variables variables, VariableDispenser dispenser, Connections connections,
                                 IScriptEventSink sink)
        {
            Variables = variables; VariableDispenser = dispenser; Connections = connections;
            this.sink = sink;
            Events = new EventsObjectWrapper(sink);
            TaskResult = (int)DTSExecResult.Success;
        }

        public Variables Variables { get; private set; }
        public VariableDispenser VariableDispenser { get; private set; }
        public Connections Connections { get; private set; }
        public IDTSComponentEvents Events { get; private set; }
        public int TaskResult { get; set; }
        public object ExecutionValue { get; set; }
        public object Transaction { get { return null; } }

        public void Log(string messageText, int dataCode, byte[] dataBytes)
        {
            sink.Event("Log", dataCode, "", messageText, 0);
        }
    }

    /// <summary>The base class of ScriptMain.</summary>
    public class VSTARTScriptObjectModelBase
    {
        ScriptObjectModel dts;

        public ScriptObjectModel Dts { get { return dts; } }

        [EditorBrowsable(EditorBrowsableState.Never)]
        public void SsisRunAttach(ScriptObjectModel model) { dts = model; }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class SSISScriptTaskEntryPointAttribute : Attribute { }
}
