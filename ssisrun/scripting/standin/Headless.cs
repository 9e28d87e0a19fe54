// ssisrun's display-free System.Windows.Forms (MessageBox only) and the System.AddIn attribute
// that SSIS 2008 scripts carry. Written for ssisrun.
using System;
using System.Reflection;

[assembly: AssemblyTitle("ssisrun headless stand-ins")]
[assembly: AssemblyVersion("1.0.0.0")]

namespace SsisRun.Headless
{
    public static class Sink
    {
        /// <summary>Receives (caption, text) of every MessageBox.Show.</summary>
        public static Action<string, string> MessageBox;
    }
}

namespace System.AddIn
{
    [AttributeUsage(AttributeTargets.Class)]
    public sealed class AddInAttribute : Attribute
    {
        public AddInAttribute(string name) { Name = name; }
        public string Name { get; private set; }
        public string Version { get; set; }
        public string Publisher { get; set; }
        public string Description { get; set; }
    }
}

namespace System.Windows.Forms
{
    public enum DialogResult { None = 0, OK = 1, Cancel = 2, Abort = 3, Retry = 4, Ignore = 5, Yes = 6, No = 7 }
    public enum MessageBoxButtons { OK = 0, OKCancel = 1, AbortRetryIgnore = 2, YesNoCancel = 3, YesNo = 4, RetryCancel = 5 }
    public enum MessageBoxIcon
    {
        None = 0, Hand = 16, Stop = 16, Error = 16, Question = 32, Exclamation = 48, Warning = 48,
        Asterisk = 64, Information = 64
    }
    public enum MessageBoxDefaultButton { Button1 = 0, Button2 = 256, Button3 = 512 }
    [Flags]
    public enum MessageBoxOptions
    {
        DefaultDesktopOnly = 131072, RightAlign = 524288, RtlReading = 1048576, ServiceNotification = 2097152
    }

    public interface IWin32Window { IntPtr Handle { get; } }

    /// <summary>A MessageBox that shows nothing: the text becomes an Information event and the
    /// answer is the button that lets the script go on.</summary>
    public static class MessageBox
    {
        static DialogResult Answer(string text, string caption, MessageBoxButtons buttons)
        {
            Action<string, string> sink = SsisRun.Headless.Sink.MessageBox;
            if (sink != null) sink(caption ?? "", text ?? "");
            switch (buttons)
            {
                case MessageBoxButtons.YesNo:
                case MessageBoxButtons.YesNoCancel: return DialogResult.Yes;
                case MessageBoxButtons.RetryCancel: return DialogResult.Retry;
                case MessageBoxButtons.AbortRetryIgnore: return DialogResult.Ignore;
                default: return DialogResult.OK;
            }
        }

        public static DialogResult Show(string text) { return Answer(text, "", MessageBoxButtons.OK); }
        public static DialogResult Show(string text, string caption) { return Answer(text, caption, MessageBoxButtons.OK); }
        public static DialogResult Show(string text, string caption, MessageBoxButtons buttons) { return Answer(text, caption, buttons); }
        public static DialogResult Show(string text, string caption, MessageBoxButtons buttons, MessageBoxIcon icon) { return Answer(text, caption, buttons); }
        public static DialogResult Show(string text, string caption, MessageBoxButtons buttons, MessageBoxIcon icon, MessageBoxDefaultButton defaultButton) { return Answer(text, caption, buttons); }
        public static DialogResult Show(string text, string caption, MessageBoxButtons buttons, MessageBoxIcon icon, MessageBoxDefaultButton defaultButton, MessageBoxOptions options) { return Answer(text, caption, buttons); }
        public static DialogResult Show(IWin32Window owner, string text) { return Answer(text, "", MessageBoxButtons.OK); }
        public static DialogResult Show(IWin32Window owner, string text, string caption) { return Answer(text, caption, MessageBoxButtons.OK); }
        public static DialogResult Show(IWin32Window owner, string text, string caption, MessageBoxButtons buttons) { return Answer(text, caption, buttons); }
        public static DialogResult Show(IWin32Window owner, string text, string caption, MessageBoxButtons buttons, MessageBoxIcon icon) { return Answer(text, caption, buttons); }
        public static DialogResult Show(IWin32Window owner, string text, string caption, MessageBoxButtons buttons, MessageBoxIcon icon, MessageBoxDefaultButton defaultButton) { return Answer(text, caption, buttons); }
    }
}
