"""Reports of a wave's analysis: the shared presentation model (`data`), charts, Excel and microdata.

Every report format reads the same cached `AnalysisResult` (`surveyapp.reports.data.wave_analysis`),
so the page, the downloads and the command line always show the same numbers.
"""
