r"""The Python replacement of Parent.dtsx's C# Script Task \Package\Report.

ssisrun finds it by its name: <package stem>.scripts/<task path below \Package, with \ as _>.py
"""


def main(Dts):
    message = Dts.Variables["User::Message"].Value
    Dts.Events.FireInformation(0, "Report", f"the child said: {message}", "", 0, True)
    Dts.TaskResult = Dts.Results.Success if message else Dts.Results.Failure
